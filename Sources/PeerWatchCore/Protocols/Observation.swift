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
/// An owned value: it outlives the capture buffer it was decoded from.
public struct Observation: Sendable, Hashable {
    /// The carrier protocol (its family is `proto.family`).
    public var proto: P2PProtocol
    /// The message that carried the identifier, in its family's terms.
    public var message: MessageKind
    /// What the subscriber side of the message was doing with the content (see `Role`).
    public var role: Role
    /// The identifier.
    public var contentID: ContentID
    /// Evidence context, the family's own.
    public var context: ObservationContext

    public init(proto: P2PProtocol, message: MessageKind, role: Role, contentID: ContentID, context: ObservationContext = .none) {
        self.proto = proto
        self.message = message
        self.role = role
        self.contentID = contentID
        self.context = context
    }
}
