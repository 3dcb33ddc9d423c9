/// A problem in a configuration or watch-list file, shown as `file:line: message`.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of problem it is, for code that reacts to it (never branch on `message`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case unreadable, unknownKind, badDigest, malformedLine, badEncoding, empty, unknownFormat, unsigned, badSignature, unknownKey, badValue
        }
        private let value: Value
        /// The file cannot be read.
        public static let unreadable = Code(value: .unreadable)
        /// An identifier kind PeerWatch does not know.
        public static let unknownKind = Code(value: .unknownKind)
        /// A digest of the wrong length or with non-hex characters.
        public static let badDigest = Code(value: .badDigest)
        /// A line that does not follow the format.
        public static let malformedLine = Code(value: .malformedLine)
        /// Bytes that are not UTF-8 text.
        public static let badEncoding = Code(value: .badEncoding)
        /// A list with no entries at all.
        public static let empty = Code(value: .empty)
        /// A list whose format cannot be told, or a format PeerWatch does not read.
        public static let unknownFormat = Code(value: .unknownFormat)
        /// A list without the signature the configuration requires.
        public static let unsigned = Code(value: .unsigned)
        /// A signature that does not verify.
        public static let badSignature = Code(value: .badSignature)
        /// A configuration key PeerWatch does not know.
        public static let unknownKey = Code(value: .unknownKey)
        /// A configuration value of the wrong type or out of range.
        public static let badValue = Code(value: .badValue)
        public var description: String { "\(value)" }
    }

    public var code: Code
    public var file: String
    public var line: Int?
    public var message: String

    public init(code: Code, file: String, line: Int?, message: String) {
        self.code = code
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(message)" }
}

/// Every problem found in one or more watch-list files; nothing from them was loaded.
public struct WatchListLoadError: Error, CustomStringConvertible, Sendable {
    /// The problems, in file and line order.
    public var problems: [ConfigurationError]
    public var description: String { problems.map(\.description).joined(separator: "\n") }
}
