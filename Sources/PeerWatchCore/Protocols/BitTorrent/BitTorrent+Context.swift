extension BitTorrent {
    /// The messages of the BitTorrent family that carry identifiers (`p2p.message`).
    public enum Message: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// BEP 3 peer wire handshake (over TCP or uTP).
        case handshake
        /// BEP 5 DHT `get_peers` query, or a response tied to one.
        case dhtGetPeers
        /// BEP 5 DHT `announce_peer` query.
        case dhtAnnouncePeer
        /// BEP 51 `sample_infohashes` response: a weaker signal, a node's sample of what it stores.
        case dhtSample
        /// Tracker announce (HTTP or BEP 15 UDP).
        case trackerAnnounce
        /// Tracker scrape (HTTP or BEP 15 UDP).
        case trackerScrape
        /// BEP 14 Local Service Discovery announcement.
        case lsd
        /// BEP 9 metadata (the info dictionary) transferred and verified.
        case metadata

        public var description: String {
            switch self {
            case .handshake: "handshake"
            case .dhtGetPeers: "dht.get_peers"
            case .dhtAnnouncePeer: "dht.announce_peer"
            case .dhtSample: "dht.sample"
            case .trackerAnnounce: "tracker.announce"
            case .trackerScrape: "tracker.scrape"
            case .lsd: "lsd"
            case .metadata: "metadata"
            }
        }
    }

    /// What a BitTorrent message carried besides its identifier, kept as evidence
    /// (`p2p.context`).
    public struct Context: Sendable, Hashable {
        /// The sender's peer id.
        public var peerID: PeerID?
        /// The port the sender says it listens on (DHT announce_peer, tracker announce).
        public var port: UInt16?
        /// A tracker announce's `event`.
        public var trackerEvent: TrackerEvent?
        /// A tracker announce's `left` (0: the client is a seeder).
        public var bytesLeft: Int64?
        /// Peers a DHT get_peers response returned.
        public var peersReturned: Int?
        /// What BEP 9 metadata described (heap storage, on those rare observations only).
        public var torrent: TorrentInfo?

        public init(peerID: PeerID? = nil, port: UInt16? = nil, trackerEvent: TrackerEvent? = nil, bytesLeft: Int64? = nil,
                    peersReturned: Int? = nil, torrent: TorrentInfo? = nil) {
            self.peerID = peerID
            self.port = port
            self.trackerEvent = trackerEvent
            self.bytesLeft = bytesLeft
            self.peersReturned = peersReturned
            self.torrent = torrent
        }

        /// `client`, `peer_id`, `port`, `event`, `left`, `peers_returned`, `torrent`: those the
        /// message carried.
        public func write<W: FieldWriter>(to writer: inout W) {
            if let peerID {
                if let client = peerID.azureusClientTag { writer.field("client", client) }
                writer.field("peer_id", peerID.description)
            }
            if let port { writer.field("port", port) }
            if let trackerEvent { writer.field("event", trackerEvent.description) }
            if let bytesLeft { writer.field("left", bytesLeft) }
            if let peersReturned { writer.field("peers_returned", peersReturned) }
            if let torrent { torrent.write(to: &writer) }
        }
    }

    /// What a flow_end record says of a BitTorrent flow (`p2p`, between `protocol` and the
    /// generic fields).
    public struct FlowEnd: Sendable, Equatable {
        /// Payload bytes of `piece` messages from the initiator and to it: content moved.
        public var pieceBytesToServer: Int64 = 0
        public var pieceBytesToClient: Int64 = 0
        /// The clients' BEP 10 names.
        public var initiatorClient: String?
        public var responderClient: String?
        /// The info dictionary verified on the flow, if any.
        public var torrent: TorrentInfo?

        public init() {}

        /// `piece_bytes_toserver`, `piece_bytes_toclient`, `client_src`, `client_dest`, `torrent`.
        public func write<W: FieldWriter>(to writer: inout W) {
            writer.field("piece_bytes_toserver", pieceBytesToServer)
            writer.field("piece_bytes_toclient", pieceBytesToClient)
            writer.field("client_src", initiatorClient)
            writer.field("client_dest", responderClient)
            if let torrent { torrent.write(to: &writer) }
        }
    }
}

extension MessageKind {
    public static let handshake = MessageKind.bittorrent(.handshake)
    public static let dhtGetPeers = MessageKind.bittorrent(.dhtGetPeers)
    public static let dhtAnnouncePeer = MessageKind.bittorrent(.dhtAnnouncePeer)
    public static let dhtSample = MessageKind.bittorrent(.dhtSample)
    public static let trackerAnnounce = MessageKind.bittorrent(.trackerAnnounce)
    public static let trackerScrape = MessageKind.bittorrent(.trackerScrape)
    public static let lsd = MessageKind.bittorrent(.lsd)
    public static let metadata = MessageKind.bittorrent(.metadata)
}

extension Observation {
    /// A BitTorrent observation.
    init(_ proto: P2PProtocol, _ message: BitTorrent.Message, role: Role, contentID: ContentID, context: BitTorrent.Context = BitTorrent.Context()) {
        self.init(proto: proto, message: .bittorrent(message), role: role, contentID: contentID, context: .bittorrent(context))
    }

    /// The sender's BitTorrent peer id, when the message carried one.
    public var peerID: BitTorrent.PeerID? {
        if case .bittorrent(let context) = context { return context.peerID }
        return nil
    }
}

extension FlowSummary {
    /// The BitTorrent part of the summary, for a BitTorrent flow.
    public var bittorrent: BitTorrent.FlowEnd? {
        if case .bittorrent(let end) = context { return end }
        return nil
    }
}

extension TorrentInfo {
    /// A torrent's description: `"torrent":{"name","size","files","piece_length","pieces","btih","btih_v2"}`.
    public func write<W: FieldWriter>(to writer: inout W) {
        writer.beginObject("torrent")
        writer.field("name", name)
        if let totalLength { writer.field("size", totalLength) }
        if let fileCount { writer.field("files", fileCount) }
        if let pieceLength { writer.field("piece_length", pieceLength) }
        if let pieceCount { writer.field("pieces", pieceCount) }
        if let infoHashV1 { writer.field("btih", infoHashV1.hex) }
        if let infoHashV2 { writer.field("btih_v2", infoHashV2.hex) }
        writer.endObject()
    }
}

extension EngineCounters {
    /// TCP flows that opened like an MSE/PE negotiation on both sides with nothing readable:
    /// likely encrypted BitTorrent.
    public var likelyEncryptedBitTorrentFlows: Int { likelyEncryptedFlows(.bittorrent) }
}
