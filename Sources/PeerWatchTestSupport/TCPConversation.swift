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
        let syn = PacketBuilder.tcp(from: client, to: server, sequence: clientSequence, flags: .syn, link: link, vlanTags: vlanTags)
        clientSequence &+= 1
        let synAck = PacketBuilder.tcp(from: server, to: client, sequence: serverSequence, acknowledgment: clientSequence,
                                       flags: [.syn, .ack], link: link, vlanTags: vlanTags)
        serverSequence &+= 1
        let ack = PacketBuilder.tcp(from: client, to: server, sequence: clientSequence, acknowledgment: serverSequence,
                                    flags: .ack, link: link, vlanTags: vlanTags)
        return [Frame(bytes: syn, timestamp: tick()), Frame(bytes: synAck, timestamp: tick()), Frame(bytes: ack, timestamp: tick())]
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

    /// One segment carrying `payload`, advancing the sender's sequence number.
    public mutating func segment(fromClient: Bool, _ payload: [UInt8], flags: TCPFlags = [.ack, .psh]) -> Frame {
        let (source, destination) = fromClient ? (client, server) : (server, client)
        let sequence = fromClient ? clientSequence : serverSequence
        let acknowledgment = fromClient ? serverSequence : clientSequence
        let bytes = PacketBuilder.tcp(from: source, to: destination, sequence: sequence, acknowledgment: acknowledgment,
                                      flags: flags, payload: payload, link: link, vlanTags: vlanTags)
        if fromClient { clientSequence &+= UInt32(truncatingIfNeeded: payload.count) } else { serverSequence &+= UInt32(truncatingIfNeeded: payload.count) }
        return Frame(bytes: bytes, timestamp: tick())
    }

    /// FIN from each side and the last ACK.
    public mutating func close() -> [Frame] {
        let finA = PacketBuilder.tcp(from: client, to: server, sequence: clientSequence, acknowledgment: serverSequence,
                                     flags: [.fin, .ack], link: link, vlanTags: vlanTags)
        clientSequence &+= 1
        let finB = PacketBuilder.tcp(from: server, to: client, sequence: serverSequence, acknowledgment: clientSequence,
                                     flags: [.fin, .ack], link: link, vlanTags: vlanTags)
        serverSequence &+= 1
        let ack = PacketBuilder.tcp(from: client, to: server, sequence: clientSequence, acknowledgment: serverSequence,
                                    flags: .ack, link: link, vlanTags: vlanTags)
        return [Frame(bytes: finA, timestamp: tick()), Frame(bytes: finB, timestamp: tick()), Frame(bytes: ack, timestamp: tick())]
    }
}
