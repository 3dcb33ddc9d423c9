/// A content identifier: its kind and digest, held inline in four words (no heap).
///
/// The text form is lowercase hex of the digest bytes, whatever form the wire used.
public struct ContentID: Hashable, Sendable, CustomStringConvertible {
    /// What a digest identifies, and how long it is.
    public enum Kind: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// BitTorrent v1 infohash: SHA-1 of the bencoded info dictionary (BEP 3).
        case btih
        /// BitTorrent v2 infohash: SHA-256 of the info dictionary (BEP 52).
        case btihV2
        /// eDonkey2000 file hash (MD4 based).
        case ed2k
        /// SHA-1 of the file, as in `urn:sha1:`.
        case sha1
        /// Tiger Tree Hash root, as in `urn:tree:tiger:`.
        case tth
        /// MD5 of the file, as in child-protection hash lists.
        case md5
        /// SHA-1 of one BitTorrent piece.
        case btPiece

        /// The digest length in bytes.
        public var digestLength: Int {
            switch self {
            case .btih, .sha1, .btPiece: 20
            case .btihV2: 32
            case .ed2k, .md5: 16
            case .tth: 24
            }
        }

        /// The name used in watch lists and alert records (`id_type`).
        public var description: String {
            switch self {
            case .btih: "btih"
            case .btihV2: "btih-v2"
            case .ed2k: "ed2k"
            case .sha1: "sha1"
            case .tth: "tth"
            case .md5: "md5"
            case .btPiece: "bt-piece"
            }
        }

        /// Parses an `id_type` name (`btih`, `btih-v2`, ...), case-insensitively.
        public init?<S: StringProtocol>(name: S) {
            guard let kind = Kind.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
            self = kind
        }
    }

    /// The kind of digest.
    public let kind: Kind
    // The digest, big-endian, zero-padded to 32 bytes.
    private let w0: UInt64, w1: UInt64, w2: UInt64, w3: UInt64

    /// Builds an identifier from exactly `kind.digestLength` bytes, or returns `nil`.
    public init?(kind: Kind, bytes: UnsafeRawBufferPointer) {
        guard bytes.count == kind.digestLength else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        withUnsafeMutableBytes(of: &words) { raw in
            raw.copyMemory(from: bytes)
        }
        self.kind = kind
        w0 = UInt64(bigEndian: words.0)
        w1 = UInt64(bigEndian: words.1)
        w2 = UInt64(bigEndian: words.2)
        w3 = UInt64(bigEndian: words.3)
    }

    /// Builds an identifier from its digest as big-endian words, zero-padded past the kind's length.
    init(kind: Kind, words: (UInt64, UInt64, UInt64, UInt64)) {
        self.kind = kind
        (w0, w1, w2, w3) = words
    }

    /// Builds an identifier from a byte array of the kind's length, or returns `nil`.
    public init?(kind: Kind, bytes: [UInt8]) {
        guard let id = bytes.withUnsafeBytes({ ContentID(kind: kind, bytes: $0) }) else { return nil }
        self = id
    }

    /// Parses the hex text form (either case) for `kind`, or returns `nil`.
    public init?<S: StringProtocol>(kind: Kind, hex: S) {
        guard hex.utf8.count == kind.digestLength * 2, let bytes = Hex.decode(hex) else { return nil }
        self.init(kind: kind, bytes: bytes)
    }

    /// Calls `body` with the digest bytes (exactly `kind.digestLength` of them).
    public func withDigestBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var words = (w0.bigEndian, w1.bigEndian, w2.bigEndian, w3.bigEndian)
        let length = kind.digestLength
        return try withUnsafeBytes(of: &words) { raw in
            try body(UnsafeRawBufferPointer(rebasing: raw[0 ..< length]))
        }
    }

    /// The digest bytes as an array.
    public var digest: [UInt8] { withDigestBytes { Array($0) } }

    /// Lowercase hex of the digest.
    public var hex: String { withDigestBytes { Hex.encode($0) } }

    /// `kind:hex`, the native watch-list form.
    public var description: String { "\(kind):\(hex)" }
}
