import Crypto

extension BitTorrent {
    /// The extension protocol state of one peer connection (BEP 10), and the info dictionary
    /// being exchanged over it (BEP 9, ut_metadata), assembled and checked against the
    /// handshake's infohash.
    ///
    /// ```
    /// extension handshake: <20><0>d1:md11:ut_metadatai3ee13:metadata_sizei31235e1:v14:qBittorrent 4.6e
    /// metadata piece:      <20><id>d8:msg_typei1e5:piecei0e10:total_sizei31235ee<16 KiB of the info dictionary>
    /// ```
    public struct MetadataExchange: Sendable {
        /// ut_metadata sends the info dictionary in 16 KiB pieces.
        public static let pieceLength = 16 * 1024
        /// Client names (`v`) longer than this are cut.
        public static let maxClientNameLength = 64

        /// The infohash both sides gave in their handshakes.
        public let infoHash: ContentID
        /// The id each side asked to receive ut_metadata messages with (0: not supported).
        private var metadataIDOfInitiator: UInt8 = 0
        private var metadataIDOfResponder: UInt8 = 0
        /// The client names each side gave (`v`).
        public private(set) var initiatorClient: String?
        public private(set) var responderClient: String?
        private var totalSize = 0
        private var buffer: [UInt8] = []
        private var received: [Bool] = []
        private var receivedCount = 0
        /// Whether the dictionary was assembled and verified (or refused); nothing more is read.
        public private(set) var isComplete = false
        /// Whether an assembled dictionary failed the infohash check.
        public private(set) var failedVerification = false
        /// The verified info dictionary's description.
        public private(set) var verified: TorrentInfo?

        public init(infoHash: ContentID) {
            self.infoHash = infoHash
        }

        /// Bytes held for an assembly in progress.
        public var bytesHeld: Int { buffer.count }

        /// Reads one extension message (its extended id first) sent in `direction`.
        /// - Parameters:
        ///   - budget: bytes this exchange may still take for a new assembly; lowered by what it takes.
        /// - Returns: the verified info dictionary, when this message completed it.
        public mutating func handle(_ payload: UnsafeRawBufferPointer, from direction: FlowDirection, budget: inout Int) -> (ContentID, TorrentInfo)? {
            guard !isComplete, let extendedID = payload.first else { return nil }
            var reader = ByteReader(UnsafeRawBufferPointer(rebasing: payload[1...]))
            guard let dictionary = try? Bencode.Dictionary(&reader, depth: 4) else { return nil }
            if extendedID == 0 {
                let wanted = dictionary.dictionary("m")?.integer("ut_metadata").flatMap { (1 ... 255).contains($0) ? UInt8($0) : nil } ?? 0
                let client = dictionary.string("v").map { String(String(decoding: $0, as: UTF8.self).prefix(Self.maxClientNameLength)) }
                switch direction {
                case .toServer:
                    metadataIDOfInitiator = wanted
                    initiatorClient = client
                case .toClient:
                    metadataIDOfResponder = wanted
                    responderClient = client
                }
                return nil
            }
            // A message uses the id its receiver asked for.
            let receiverID = direction == .toServer ? metadataIDOfResponder : metadataIDOfInitiator
            guard receiverID != 0, extendedID == receiverID, dictionary.integer("msg_type") == 1,
                  let piece = dictionary.integer("piece"), let total = dictionary.integer("total_size"),
                  total > 0, total <= Int64(TorrentInfo.maxLength) else { return nil }
            let size = Int(total)
            let pieces = (size + Self.pieceLength - 1) / Self.pieceLength
            guard piece >= 0, piece < Int64(pieces) else { return nil }
            let index = Int(piece)
            let expected = index == pieces - 1 ? size - index * Self.pieceLength : Self.pieceLength
            let data = reader.remainingBytes
            guard data.count == expected else { return nil }
            if totalSize != size {
                // A new (or a different) exchange: start over, if the budget allows.
                budget += buffer.count
                guard size <= budget else {
                    buffer = []
                    received = []
                    totalSize = 0
                    return nil
                }
                budget -= size
                totalSize = size
                buffer = [UInt8](repeating: 0, count: size)
                received = [Bool](repeating: false, count: pieces)
                receivedCount = 0
            }
            guard !received[index] else { return nil }
            received[index] = true
            receivedCount += 1
            buffer.withUnsafeMutableBytes { raw in
                UnsafeMutableRawBufferPointer(rebasing: raw[(index * Self.pieceLength) ..< (index * Self.pieceLength + expected)]).copyMemory(from: data)
            }
            guard receivedCount == pieces else { return nil }
            isComplete = true
            defer {
                budget += buffer.count
                buffer = []
                received = []
            }
            return buffer.withUnsafeBytes { raw -> (ContentID, TorrentInfo)? in
                let wanted = infoHash.digest
                let sha1 = Array(Insecure.SHA1.hash(data: raw))
                let sha256 = Array(SHA256.hash(data: raw))
                let id: ContentID?
                if sha1 == wanted {
                    id = ContentID(kind: .btih, bytes: sha1)
                } else if Array(sha256.prefix(20)) == wanted {
                    id = ContentID(kind: .btihV2, bytes: sha256)
                } else {
                    failedVerification = true
                    return nil
                }
                guard let id, let info = TorrentInfo(infoDictionary: raw) else {
                    failedVerification = true
                    return nil
                }
                verified = info
                return (id, info)
            }
        }
    }
}
