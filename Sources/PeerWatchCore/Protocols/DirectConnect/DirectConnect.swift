/// Direct Connect, in both its dialects: NMDC (`$Command args|`) and ADC (`FCMD args\n`),
/// between clients and hubs and between clients, over TCP and UDP. Files are named by their
/// Tiger Tree Hash root (`TTH:` or `TR` and 39 base32 digits), which some lists hold.
public enum DirectConnect {
    /// The messages of the Direct Connect family that carry identifiers (`p2p.message`).
    public enum Message: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// A search by TTH (NMDC `$Search ... TTH:`, ADC `SCH ... TR`).
        case search
        /// A search result naming a file (NMDC `$SR`, ADC `RES`).
        case searchResult
        /// A download request (NMDC `$ADCGET file TTH/...`, ADC `GET file TTH/...`).
        case get
        /// A download answer, followed by the file's bytes (`$ADCSND`, `SND`).
        case send

        public var description: String {
            switch self {
            case .search: "search"
            case .searchResult: "search_result"
            case .get: "get"
            case .send: "send"
            }
        }
    }

    /// The protocol dialect of a message.
    public enum Dialect: UInt8, Sendable, Hashable, CustomStringConvertible {
        case nmdc
        case adc

        public var description: String { self == .nmdc ? "nmdc" : "adc" }
    }

    /// What a Direct Connect message carried besides its identifier (`p2p.context`).
    public struct Context: Sendable, Hashable {
        public var dialect: Dialect
        /// The file's name (a result's path) and size, or the bytes a transfer moves.
        public var fileName: String?
        public var fileSize: UInt64?
        /// The first byte of a transfer.
        public var rangeStart: UInt64?

        public init(dialect: Dialect, fileName: String? = nil, fileSize: UInt64? = nil, rangeStart: UInt64? = nil) {
            self.dialect = dialect
            self.fileName = fileName
            self.fileSize = fileSize
            self.rangeStart = rangeStart
        }

        /// `dialect`, `file_name`, `file_size`, `range_start`: those the message carried.
        public func write<W: FieldWriter>(to writer: inout W) {
            writer.field("dialect", dialect.description)
            if let fileName { writer.field("file_name", fileName) }
            if let fileSize { writer.field("file_size", fileSize) }
            if let rangeStart { writer.field("range_start", rangeStart) }
        }
    }

    /// What a flow_end record says of a Direct Connect flow.
    public struct FlowEnd: Sendable, Equatable {
        public var dialect: Dialect?
        /// File bytes sent each way after `$ADCSND` / `SND`.
        public var fileBytesToServer: Int64 = 0
        public var fileBytesToClient: Int64 = 0

        public init() {}

        /// `dialect`, `file_bytes_toserver`, `file_bytes_toclient`.
        public func write<W: FieldWriter>(to writer: inout W) {
            writer.field("dialect", dialect?.description)
            writer.field("file_bytes_toserver", fileBytesToServer)
            writer.field("file_bytes_toclient", fileBytesToClient)
        }
    }

    /// Whether a TCP direction opens Direct Connect: a hub's `$Lock`, a client's `$MyNick` or
    /// `$Supports`, or an ADC `SUP` (to a hub, from a hub, or between clients).
    static func recognise(_ first: UnsafeRawBufferPointer) -> Recognition {
        openingMatch(first, "$Lock ").or(openingMatch(first, "$MyNick ")).or(openingMatch(first, "$Supports"))
            .or(openingMatch(first, "HSUP AD")).or(openingMatch(first, "CSUP AD")).or(openingMatch(first, "ISUP AD"))
    }

    /// A TTH from its 39 base32 digits.
    static func tth(_ text: UnsafeRawBufferPointer) -> ContentID? {
        guard text.count >= 39 else { return nil }
        return MagnetLink.base32ID(UnsafeRawBufferPointer(rebasing: text[0 ..< 39]), kind: .tth)
    }

    /// A decimal number (a size, an offset), or `nil`.
    static func decimal(_ text: UnsafeRawBufferPointer) -> UInt64? {
        guard !text.isEmpty, text.count <= 20 else { return nil }
        var value: UInt64 = 0
        for byte in text {
            guard (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(byte) else { return nil }
            let (times, overflow) = value.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            value = times &+ UInt64(byte &- UInt8(ascii: "0"))
        }
        return value
    }

    /// Calls `body` with each field of `text` split at `separator`.
    static func fields(_ text: UnsafeRawBufferPointer, separator: UInt8, _ body: (UnsafeRawBufferPointer) -> Void) {
        var start = 0
        while start <= text.count {
            let end = ByteSearch.firstIndex(of: separator, in: text, from: start) ?? text.count
            body(UnsafeRawBufferPointer(rebasing: text[start ..< end]))
            start = end + 1
        }
    }
}

extension Observation {
    /// A Direct Connect observation.
    init(_ message: DirectConnect.Message, role: Role, contentID: ContentID, context: DirectConnect.Context) {
        self.init(proto: .directConnect, message: .directConnect(message), role: role, contentID: contentID, context: .directConnect(context))
    }
}
