/// The P2P protocol (carrier) an observation came from, as named in alert records.
public enum P2PProtocol: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// BitTorrent peer wire over TCP (BEP 3).
    case bittorrent
    /// BitTorrent peer wire inside uTP (BEP 29).
    case utp
    /// BitTorrent Mainline DHT (BEP 5).
    case bittorrentDHT
    /// BitTorrent tracker (HTTP announce/scrape, BEP 15 UDP).
    case bittorrentTracker
    /// BitTorrent Local Service Discovery (BEP 14).
    case bittorrentLSD
    /// Plain HTTP carrying BitTorrent identifiers (.torrent downloads, magnet links).
    case http

    public var description: String {
        switch self {
        case .bittorrent: "bittorrent"
        case .utp: "utp"
        case .bittorrentDHT: "bittorrent-dht"
        case .bittorrentTracker: "bittorrent-tracker"
        case .bittorrentLSD: "bittorrent-lsd"
        case .http: "http"
        }
    }

    /// The EVE-style `app_proto` of a flow carrying this protocol.
    public var appProtocol: String {
        switch self {
        case .bittorrent, .utp: "bittorrent"
        case .bittorrentDHT: "bittorrent-dht"
        case .bittorrentTracker: "bittorrent-tracker"
        case .bittorrentLSD: "bittorrent-lsd"
        case .http: "http"
        }
    }
}

/// The protocol message that carried an identifier (`p2p.message` in alerts).
public enum MessageKind: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
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
    /// A .torrent file downloaded over HTTP.
    case httpTorrent
    /// A magnet link in an HTTP request or response.
    case httpMagnet

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
        case .httpTorrent: "http.torrent"
        case .httpMagnet: "http.magnet"
        }
    }
}

/// What the sender of an identifier was doing with the content (`p2p.role`).
public enum Role: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// Asking for the content (opening a peer connection for it, searching for it).
    case seeking
    /// Announcing that it has the content or serves it.
    case offering
    /// Moving the content's bytes.
    case transferring

    public var description: String {
        switch self {
        case .seeking: "seeking"
        case .offering: "offering"
        case .transferring: "transferring"
        }
    }
}

/// Which way a packet travelled relative to the flow's initiator (`p2p.direction`).
public enum FlowDirection: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// From the side that opened the flow.
    case toServer
    /// Towards the side that opened the flow.
    case toClient

    public var description: String { self == .toServer ? "to_server" : "to_client" }
}

/// Context worth keeping with an observation, as evidence.
public struct ObservationContext: Sendable, Hashable {
    /// The sender's BitTorrent peer id.
    public var peerID: BitTorrent.PeerID?
    /// The port the sender says it listens on (DHT announce_peer, tracker announce).
    public var port: UInt16?
    /// A tracker announce's `event`.
    public var trackerEvent: BitTorrent.TrackerEvent?
    /// A tracker announce's `left` (0: the client is a seeder).
    public var bytesLeft: Int64?
    /// Peers a DHT get_peers response returned.
    public var peersReturned: Int?
    /// What a .torrent file or BEP 9 metadata described (the only part with heap storage, and
    /// present only on those rare observations).
    public var torrent: TorrentInfo?

    public init(peerID: BitTorrent.PeerID? = nil, port: UInt16? = nil, trackerEvent: BitTorrent.TrackerEvent? = nil,
                bytesLeft: Int64? = nil, peersReturned: Int? = nil, torrent: TorrentInfo? = nil) {
        self.peerID = peerID
        self.port = port
        self.trackerEvent = trackerEvent
        self.bytesLeft = bytesLeft
        self.peersReturned = peersReturned
        self.torrent = torrent
    }
}

/// One content identifier seen in a protocol message, with the context worth keeping.
/// An owned value: it outlives the capture buffer it was decoded from.
public struct Observation: Sendable, Hashable {
    /// The carrier protocol.
    public var proto: P2PProtocol
    /// The message that carried the identifier.
    public var message: MessageKind
    /// What the subscriber side of the message was doing with the content (see `Role`).
    public var role: Role
    /// The identifier.
    public var contentID: ContentID
    /// Evidence context.
    public var context: ObservationContext

    public init(proto: P2PProtocol, message: MessageKind, role: Role, contentID: ContentID, context: ObservationContext = ObservationContext()) {
        self.proto = proto
        self.message = message
        self.role = role
        self.contentID = contentID
        self.context = context
    }

    /// The sender's peer id, when the message carried one.
    public var peerID: BitTorrent.PeerID? { context.peerID }
}
