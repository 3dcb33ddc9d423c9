import PeerWatchCore

/// Generates the frames of one TCP connection with consistent sequence numbers: the three-way
/// handshake, data each way cut into segments, and the close.
public struct TCPConversation: Sendable {
    /// The side that connects.
    public let client: Endpoint
    /// The side that listens.
    public let server: Endpoint
    /// The link layer frames are built for.
    public var link: LinkType
    /// VLAN tags on every frame.
    public var vlanTags: [UInt16]
    /// The next sequence number each side will send.
    public private(set) var clientSequence: UInt32
    public private(set) var serverSequence: UInt32
    /// The time of the next frame; each frame advances it by `step` microseconds.
    public var clock: Timestamp
    public var step: Int64

    public init(
        client: Endpoint, server: Endpoint, clientISN: UInt32 = 1_000, serverISN: UInt32 = 5_000_000,
        start: Timestamp, step: Int64 = 1_000, link: LinkType = .ethernet, vlanTags: [UInt16] = []
    ) {
        self.client = client
        self.server = server
        clientSequence = clientISN
        serverSequence = serverISN
        clock = start
        self.step = step
        self.link = link
        self.vlanTags = vlanTags
    }

    private mutating func tick() -> Timestamp {
        defer { clock = Timestamp(microseconds: clock.microseconds + step) }
        return clock
    }

    /// SYN, SYN-ACK, ACK.
    public mutating func open() -> [Frame] {
        [control(fromClient: true, flags: .syn), control(fromClient: false, flags: [.syn, .ack]), control(fromClient: true, flags: .ack)]
    }

    /// `payload` from one side, cut into segments of at most `segmentSize` bytes.
    public mutating func send(fromClient: Bool, _ payload: [UInt8], segmentSize: Int = 1_448) -> [Frame] {
        var frames: [Frame] = []
        var offset = 0
        while offset < payload.count {
            let end = min(payload.count, offset + max(1, segmentSize))
            frames.append(segment(fromClient: fromClient, Array(payload[offset ..< end])))
            offset = end
        }
        return frames
    }

    /// One segment carrying `payload`, advancing the sender's sequence number (SYN and FIN
    /// count as one byte); the acknowledgment number is set only with the ACK flag.
    public mutating func segment(fromClient: Bool, _ payload: [UInt8], flags: TCPFlags = [.ack, .psh]) -> Frame {
        let (source, destination) = fromClient ? (client, server) : (server, client)
        let sequence = fromClient ? clientSequence : serverSequence
        let acknowledgment = flags.contains(.ack) ? (fromClient ? serverSequence : clientSequence) : 0
        let bytes = PacketBuilder.tcp(from: source, to: destination, sequence: sequence, acknowledgment: acknowledgment,
                                      flags: flags, payload: payload, link: link, vlanTags: vlanTags)
        let length = UInt32(truncatingIfNeeded: payload.count) &+ (flags.contains(.syn) || flags.contains(.fin) ? 1 : 0)
        if fromClient { clientSequence &+= length } else { serverSequence &+= length }
        return Frame(bytes: bytes, timestamp: tick())
    }

    /// FIN from each side and the last ACK.
    public mutating func close() -> [Frame] {
        [control(fromClient: true, flags: [.fin, .ack]), control(fromClient: false, flags: [.fin, .ack]), control(fromClient: true, flags: .ack)]
    }

    /// A segment without payload.
    private mutating func control(fromClient: Bool, flags: TCPFlags) -> Frame {
        segment(fromClient: fromClient, [], flags: flags)
    }
}
