/// eDonkey2000 and eMule (aMule, eMule and their mods) over TCP and UDP, and the Kad DHT they
/// share a socket with. Files are named by their eD2k hash (MD4 of the MD4s of 9,728,000-byte
/// parts), which some law-enforcement lists hold.
public enum EDonkey {
    /// The messages of the eDonkey family that carry identifiers (`p2p.message`).
    public enum Message: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// A client asks another about a file (OP_REQUESTFILENAME, OP_SETREQFILEID,
        /// OP_HASHSETREQUEST, OP_MULTIPACKET and its forms, source exchange requests).
        case fileRequest
        /// A client answers about a file it has (OP_REQFILENAMEANSWER, OP_FILESTATUS,
        /// OP_HASHSETANSWER, OP_MULTIPACKETANSWER, source exchange answers).
        case fileAnswer
        /// A client asks to be queued for a file's upload (OP_STARTUPLOADREQ).
        case uploadRequest
        /// A client asks for byte ranges of a file (OP_REQUESTPARTS and its 64-bit form).
        case requestParts
        /// A client sends bytes of a file (OP_SENDINGPART, OP_COMPRESSEDPART and 64-bit forms).
        case sendingPart
        /// A client asks a server (or servers over UDP) for sources of a file.
        case getSources
        /// A server answers with sources of a file.
        case foundSources
        /// A client tells its server the files it shares (OP_OFFERFILES).
        case offerFiles
        /// A server's search results (a file and its name and size).
        case searchResult
        /// A client lists its shared files to another (OP_ASKSHAREDFILESANSWER).
        case sharedFiles
        /// A client asks another whether it still has a file (UDP OP_REASKFILEPING).
        case reaskFile
        /// Kad: a search for sources of a file (its eD2k hash is the target).
        case kadSearchSource
        /// Kad: a search for a file's comments and ratings.
        case kadSearchNotes
        /// Kad: search results (files matching a keyword, or a file's sources).
        case kadSearchResult
        /// Kad: a client publishes itself as a source of a file.
        case kadPublishSource
        /// Kad: a client publishes a file under a keyword.
        case kadPublishKey
        /// Kad: a client publishes comments on a file.
        case kadPublishNotes

        public var description: String {
            switch self {
            case .fileRequest: "file_request"
            case .fileAnswer: "file_answer"
            case .uploadRequest: "upload_request"
            case .requestParts: "request_parts"
            case .sendingPart: "sending_part"
            case .getSources: "get_sources"
            case .foundSources: "found_sources"
            case .offerFiles: "offer_files"
            case .searchResult: "search_result"
            case .sharedFiles: "shared_files"
            case .reaskFile: "reask_file"
            case .kadSearchSource: "kad.search_source"
            case .kadSearchNotes: "kad.search_notes"
            case .kadSearchResult: "kad.search_result"
            case .kadPublishSource: "kad.publish_source"
            case .kadPublishKey: "kad.publish_key"
            case .kadPublishNotes: "kad.publish_notes"
            }
        }
    }

    /// What an eDonkey message carried besides its identifier (`p2p.context`).
    public struct Context: Sendable, Hashable {
        /// The file's name and size, where the message gave them (offers, results, answers).
        public var fileName: String?
        public var fileSize: UInt64?
        /// The byte range a part request or a part covers.
        public var rangeStart: UInt64?
        public var rangeEnd: UInt64?
        /// The sender's client name and version, from its hello.
        public var client: String?

        public init(fileName: String? = nil, fileSize: UInt64? = nil, rangeStart: UInt64? = nil, rangeEnd: UInt64? = nil, client: String? = nil) {
            self.fileName = fileName
            self.fileSize = fileSize
            self.rangeStart = rangeStart
            self.rangeEnd = rangeEnd
            self.client = client
        }

        /// `file_name`, `file_size`, `range_start`, `range_end`, `client`: those the message carried.
        public func write<W: FieldWriter>(to writer: inout W) {
            if let fileName { writer.field("file_name", fileName) }
            if let fileSize { writer.field("file_size", fileSize) }
            if let rangeStart { writer.field("range_start", rangeStart) }
            if let rangeEnd { writer.field("range_end", rangeEnd) }
            if let client { writer.field("client", client) }
        }
    }

    /// What a flow_end record says of an eDonkey flow.
    public struct FlowEnd: Sendable, Equatable {
        /// File bytes sent in parts each way (content moved).
        public var partBytesToServer: Int64 = 0
        public var partBytesToClient: Int64 = 0
        /// Each side's client, from its hello.
        public var initiatorClient: String?
        public var responderClient: String?
        /// Whether the flow was obfuscated (eMule protocol obfuscation) and read decrypted.
        public var obfuscated = false

        public init() {}

        /// `part_bytes_toserver`, `part_bytes_toclient`, `client_src`, `client_dest`, `obfuscated`.
        public func write<W: FieldWriter>(to writer: inout W) {
            writer.field("part_bytes_toserver", partBytesToServer)
            writer.field("part_bytes_toclient", partBytesToClient)
            writer.field("client_src", initiatorClient)
            writer.field("client_dest", responderClient)
            writer.field("obfuscated", obfuscated)
        }
    }

    /// Frame protocol bytes.
    static let edonkeyProtocol: UInt8 = 0xE3
    static let emuleProtocol: UInt8 = 0xC5
    static let packedProtocol: UInt8 = 0xD4
    static let kadProtocol: UInt8 = 0xE4
    static let kadPackedProtocol: UInt8 = 0xE5

    /// eD2k tags (name, type, value), as hellos, offers and results carry them.
    enum Tags {
        /// Tags read from one list.
        static let maxTags = 64

        enum Value {
            case integer(UInt64)
            case string(UnsafeRawBufferPointer)
            case other
        }

        /// Reads `count` tags, calling `body` with each tag's one-byte name (0 for a longer
        /// name) and value; returns `false` if a tag breaks the format.
        static func read(_ reader: inout ByteReader, count: Int, _ body: (UInt8, Value) -> Void) -> Bool {
            for _ in 0 ..< min(count, maxTags) {
                guard var type = reader.readByte() else { return false }
                let name: UInt8
                if type & 0x80 != 0 {
                    type &= 0x7F
                    guard let id = reader.readByte() else { return false }
                    name = id
                } else {
                    guard let length = reader.readLittleEndianInteger(as: UInt16.self), let bytes = reader.readBytes(count: Int(length)) else { return false }
                    name = bytes.count == 1 ? bytes[0] : 0
                }
                switch type {
                case 0x01: guard reader.skip(16) else { return false }; body(name, .other)
                case 0x02:
                    guard let length = reader.readLittleEndianInteger(as: UInt16.self), let bytes = reader.readBytes(count: Int(length)) else { return false }
                    body(name, .string(bytes))
                case 0x03: guard let value = reader.readLittleEndianInteger(as: UInt32.self) else { return false }; body(name, .integer(UInt64(value)))
                case 0x04: guard reader.skip(4) else { return false }; body(name, .other)
                case 0x05: guard reader.skip(1) else { return false }; body(name, .other)
                case 0x06:
                    guard let bits = reader.readLittleEndianInteger(as: UInt16.self), reader.skip((Int(bits) + 7) / 8) else { return false }
                    body(name, .other)
                case 0x07:
                    guard let length = reader.readLittleEndianInteger(as: UInt32.self), reader.skip(Int(length)) else { return false }
                    body(name, .other)
                case 0x08: guard let value = reader.readLittleEndianInteger(as: UInt16.self) else { return false }; body(name, .integer(UInt64(value)))
                case 0x09: guard let value = reader.readByte() else { return false }; body(name, .integer(UInt64(value)))
                case 0x0A:
                    guard let length = reader.readByte(), reader.skip(Int(length)) else { return false }
                    body(name, .other)
                case 0x0B: guard let value = reader.readLittleEndianInteger(as: UInt64.self) else { return false }; body(name, .integer(value))
                case 0x11 ... 0x20:
                    guard let bytes = reader.readBytes(count: Int(type) - 0x10) else { return false }
                    body(name, .string(bytes))
                default:
                    return false
                }
            }
            return true
        }

        static let fileName: UInt8 = 0x01, fileSize: UInt8 = 0x02, fileSizeHigh: UInt8 = 0x3A
        static let clientName: UInt8 = 0x01, clientVersion: UInt8 = 0x11, emuleVersion: UInt8 = 0xFB

        /// A file's name and size from its tags.
        static func file(_ reader: inout ByteReader, count: Int) -> (name: String?, size: UInt64?)? {
            var name: String?
            var low: UInt64?, high: UInt64 = 0
            let ok = read(&reader, count: count) { tag, value in
                switch (tag, value) {
                case (fileName, .string(let text)): name = String(wire: text)
                case (fileSize, .integer(let size)): low = size
                case (fileSizeHigh, .integer(let size)): high = size
                default: break
                }
            }
            guard ok else { return nil }
            return (name, low.map { high << 32 | $0 })
        }
    }
}

extension Observation {
    /// An eDonkey-family observation.
    init(_ proto: P2PProtocol, _ message: EDonkey.Message, role: Role, contentID: ContentID, context: EDonkey.Context = EDonkey.Context()) {
        self.init(proto: proto, message: .edonkey(message), role: role, contentID: contentID, context: .edonkey(context))
    }
}
