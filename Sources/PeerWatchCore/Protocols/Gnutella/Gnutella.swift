/// Gnutella and the protocols its clients speak on the same links and sockets: Gnutella 0.6
/// (descriptors, HUGE and GGEP extensions), Gnutella2 (G2 packet trees), the Mojito DHT, and
/// HTTP file transfers named by URN. Files are named by their own hashes (`urn:sha1`,
/// `urn:tree:tiger`, `urn:ed2k`, `urn:md5`, bitprints), which child-protection lists hold.
public enum Gnutella {
    /// The messages of the Gnutella family that carry identifiers (`p2p.message`).
    public enum Message: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// A Gnutella Query (0x80) naming a file by URN.
        case query
        /// A Gnutella QueryHit (0x81): a servent offers a file.
        case queryHit
        /// A G2 query (`Q2`) with a `URN` child.
        case g2Query
        /// A G2 query hit (`QH2`): a hit's `URN` child.
        case g2Hit
        /// A Mojito DHT FIND_VALUE for alternate locations (`ALOC`), keyed by the file's SHA-1.
        case dhtFindValue
        /// A Mojito DHT STORE of an alternate location: the sender offers the file.
        case dhtStore
        /// An HTTP request for a file by URN (`/uri-res/N2R?urn:...`, a THEX tree request).
        case download
        /// An HTTP response naming what it serves (`X-Content-URN`, `X-Thex-URI`).
        case contentURN

        public var description: String {
            switch self {
            case .query: "query"
            case .queryHit: "query_hit"
            case .g2Query: "g2.query"
            case .g2Hit: "g2.hit"
            case .dhtFindValue: "dht.find_value"
            case .dhtStore: "dht.store"
            case .download: "download"
            case .contentURN: "content_urn"
            }
        }
    }

    /// What a Gnutella message carried besides its identifier (`p2p.context`).
    public struct Context: Sendable, Hashable {
        /// The file's name, as a hit or a query names it.
        public var fileName: String?
        /// The file's size in bytes, as a hit gives it.
        public var fileSize: UInt64?
        /// The sender's client: its handshake `User-Agent`, or a hit's vendor code.
        public var client: String?

        public init(fileName: String? = nil, fileSize: UInt64? = nil, client: String? = nil) {
            self.fileName = fileName
            self.fileSize = fileSize
            self.client = client
        }

        /// `file_name`, `file_size`, `client`: those the message carried.
        public func write<W: FieldWriter>(to writer: inout W) {
            if let fileName { writer.field("file_name", fileName) }
            if let fileSize { writer.field("file_size", fileSize) }
            if let client { writer.field("client", client) }
        }
    }

    /// What a flow_end record says of a Gnutella link.
    public struct FlowEnd: Sendable, Equatable {
        /// Each side's `User-Agent`.
        public var initiatorClient: String?
        public var responderClient: String?
        /// Bytes each side sent after inflating (deflated links), or as sent.
        public var linkBytesToServer: Int64 = 0
        public var linkBytesToClient: Int64 = 0
        /// Whether each side's stream was deflated.
        public var deflatedToServer = false
        public var deflatedToClient = false

        public init() {}

        /// `client_src`, `client_dest`, `link_bytes_toserver`, `link_bytes_toclient`, `deflate`.
        public func write<W: FieldWriter>(to writer: inout W) {
            writer.field("client_src", initiatorClient)
            writer.field("client_dest", responderClient)
            writer.field("link_bytes_toserver", linkBytesToServer)
            writer.field("link_bytes_toclient", linkBytesToClient)
            writer.field("deflate", deflatedToServer || deflatedToClient)
        }
    }

    /// Well-known Gnutella ports (a hint, never a proof).
    static let ports: ClosedRange<UInt16> = 6346 ... 6347
}

extension Observation {
    /// A Gnutella-family observation.
    init(_ proto: P2PProtocol, _ message: Gnutella.Message, role: Role, contentID: ContentID, context: Gnutella.Context = Gnutella.Context()) {
        self.init(proto: proto, message: .gnutella(message), role: role, contentID: contentID, context: .gnutella(context))
    }
}

extension String {
    /// Text from wire bytes for a record: at most `limit` bytes, invalid UTF-8 replaced.
    init(wire bytes: UnsafeRawBufferPointer, limit: Int = 512) {
        self = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0 ..< Swift.min(limit, bytes.count)]), as: UTF8.self)
    }
}
