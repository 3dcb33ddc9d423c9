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

    public var description: String {
        switch self {
        case .bittorrent: "bittorrent"
        case .utp: "utp"
        case .bittorrentDHT: "bittorrent-dht"
        case .bittorrentTracker: "bittorrent-tracker"
        case .bittorrentLSD: "bittorrent-lsd"
        }
    }

    /// The EVE-style `app_proto` of a flow carrying this protocol.
    public var appProtocol: String {
        switch self {
        case .bittorrent, .utp: "bittorrent"
        case .bittorrentDHT: "bittorrent-dht"
        case .bittorrentTracker: "bittorrent-tracker"
        case .bittorrentLSD: "bittorrent-lsd"
        }
    }
}

/// The protocol message that carried an identifier (`p2p.message` in alerts).
public enum MessageKind: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// BEP 3 peer wire handshake.
    case handshake

    public var description: String {
        switch self {
        case .handshake: "handshake"
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

/// One content identifier seen in a protocol message, with the context worth keeping.
/// An owned, fixed-size value: it outlives the capture buffer it was decoded from.
public struct Observation: Sendable, Hashable {
    /// The carrier protocol.
    public var proto: P2PProtocol
    /// The message that carried the identifier.
    public var message: MessageKind
    /// What the sender was doing with the content.
    public var role: Role
    /// The identifier.
    public var contentID: ContentID
    /// The BitTorrent peer id of the sender, when the message carried one.
    public var peerID: BitTorrent.PeerID?

    public init(proto: P2PProtocol, message: MessageKind, role: Role, contentID: ContentID, peerID: BitTorrent.PeerID? = nil) {
        self.proto = proto
        self.message = message
        self.role = role
        self.contentID = contentID
        self.peerID = peerID
    }
}
