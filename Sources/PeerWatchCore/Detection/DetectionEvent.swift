/// Which side of an alert is the ISP's subscriber, from the configured home networks.
public enum Subscriber: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// The alert's source address is in a home network.
    case source
    /// The alert's destination address is in a home network.
    case destination
    /// Both are.
    case both
    /// Neither is, or no home networks are configured.
    case unknown

    /// The `subscriber` value in alert records.
    public var description: String {
        switch self {
        case .source: "src"
        case .destination: "dest"
        case .both: "both"
        case .unknown: "unknown"
        }
    }

    /// Which of `source` and `destination` lie in `networks`.
    public static func of(source: IPAddress, destination: IPAddress, in networks: [IPNetwork]) -> Subscriber {
        let s = networks.contains { $0.contains(source) }
        let d = networks.contains { $0.contains(destination) }
        switch (s, d) {
        case (true, true): return .both
        case (true, false): return .source
        case (false, true): return .destination
        case (false, false): return .unknown
        }
    }
}

/// A watch-list identifier seen on a flow for the first time: a `match` record.
public struct MatchAlert: Sendable {
    /// When the packet that completed the identifier was captured (`timestamp`).
    public var timestamp: Timestamp
    /// The flow's id (`flow_id`), stable for the flow's lifetime.
    public var flowID: UInt64
    /// The flow's canonical key (for `community_id`).
    public var flowKey: FlowKey
    /// The sender of the identifier (`src_ip`, `src_port`).
    public var source: Endpoint
    /// The receiver (`dest_ip`, `dest_port`).
    public var destination: Endpoint
    /// The sender relative to the flow's initiator (`p2p.direction`).
    public var direction: FlowDirection
    /// What was seen (`p2p`).
    public var observation: Observation
    /// Which side is the subscriber (`subscriber`).
    public var subscriber: Subscriber
    /// The watch-list entry that matched (`watchlist`).
    public var hit: WatchListHit
    /// How the flow's first matching packet arrived (`carrier`); nil when plainly.
    public var carrier: Carrier? = nil
}

/// Why a flow ended.
public enum FlowEndReason: UInt8, Sendable, Hashable, CustomStringConvertible {
    /// Idle past its timeout.
    case timeout
    /// Removed to make room in a full flow table.
    case evicted
    /// The capture ended (end of file, or shutdown).
    case shutdown

    public var description: String {
        switch self {
        case .timeout: "timeout"
        case .evicted: "evicted"
        case .shutdown: "shutdown"
        }
    }
}

/// One identifier matched on a flow by one protocol, with how often it was seen there. A flow
/// can carry an identifier through several protocols of a family (one UDP socket may serve a
/// client's DHT and its peer wire); each raises its own match.
public struct MatchedIdentifier: Sendable, Hashable {
    /// The identifier.
    public var id: ContentID
    /// The protocol that carried it.
    public var proto: P2PProtocol
    /// How many times it was seen on the flow by that protocol (the first raised the alert).
    public var sightings: Int

    public init(id: ContentID, proto: P2PProtocol, sightings: Int) {
        self.id = id
        self.proto = proto
        self.sightings = sightings
    }
}

/// The totals of a flagged flow when it ends: a `flow_end` record.
public struct FlowSummary: Sendable {
    /// The flow's id (`flow_id`).
    public var flowID: UInt64
    /// The canonical key.
    public var flowKey: FlowKey
    /// The side that opened the flow (`src_ip`, `src_port`).
    public var initiator: Endpoint
    /// The other side (`dest_ip`, `dest_port`).
    public var responder: Endpoint
    /// The P2P protocol recognised on the flow.
    public var proto: P2PProtocol?
    /// First packet (`flow.start`).
    public var start: Timestamp
    /// Last packet (`flow.end`).
    public var end: Timestamp
    /// Packets from the initiator.
    public var packetsToServer: Int
    /// Packets to the initiator.
    public var packetsToClient: Int
    /// Wire bytes from the initiator.
    public var bytesToServer: Int
    /// Wire bytes to the initiator.
    public var bytesToClient: Int
    /// Why it ended.
    public var reason: FlowEndReason
    /// The watch-listed identifiers seen, in order of first sighting.
    public var matched: [MatchedIdentifier]
    /// What the family of the flow's protocol reports of it (`p2p`, after `protocol`).
    public var context: FlowEndContext
    /// Flows the initiator's address had, since it was first flagged, that opened like an
    /// encrypted stream of a family (`FamilyPools.encryptedOpening`).
    public var encryptedFlowsOfInitiator: Int
    /// The same for the responder's address.
    public var encryptedFlowsOfResponder: Int
    /// Which side is the subscriber, with the initiator as source.
    public var subscriber: Subscriber
    /// How the flow's first matching packet arrived (`carrier`); nil when plainly.
    public var carrier: Carrier? = nil
}

/// What the engine hands out: alerts and flow records, in capture order.
public enum DetectionEvent: Sendable {
    /// A watch-listed identifier on a flow, first sighting.
    case match(MatchAlert)
    /// A flagged flow ended.
    case flowEnd(FlowSummary)
    /// A flow between two addresses opened like an encrypted stream of a family: for the
    /// `FlaggedAddressTally` (never written).
    case likelyEncrypted(IPAddress, IPAddress)
}
