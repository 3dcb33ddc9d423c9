/// What the engine keeps per flow: counters, the protocol phase, and per direction a
/// reassembler and the decoders' scan state. Small and fixed, except the reorder buffers and
/// the list of matched identifiers, which exist only when needed.
struct FlowRecord {
    enum Phase: UInt8 {
        /// Still looking at the first bytes for a P2P sign.
        case probing
        /// Recognised as P2P; decoders keep reading.
        case p2p
        /// No P2P sign: only counters from now on.
        case uninteresting
    }

    /// One direction's stream state.
    struct Direction {
        var stream = StreamReassembler()
        var handshake = BitTorrent.HandshakeScanner()

        /// Whether nothing in this direction needs reading any more.
        var isDone: Bool { handshake.isFinished }

        /// Reassembles one segment and scans what comes out in order.
        mutating func feed(sequence: UInt32, flags: TCPFlags, payload: UnsafeRawBufferPointer) -> BitTorrent.Handshake? {
            guard !isDone else { return nil }
            var scanner = handshake
            var found: BitTorrent.Handshake?
            stream.receive(sequence: sequence, flags: flags, payload: payload) { chunk in
                scanner.consume(chunk) { found = $0 }
            }
            handshake = scanner
            return found
        }
    }

    let id: UInt64
    let transport: TransportProtocol
    let initiatorIsLow: Bool
    let start: Timestamp
    var lastSeen: Timestamp
    var phase = Phase.probing
    var proto: P2PProtocol?
    var isClosing = false
    var packetsToServer = 0
    var packetsToClient = 0
    var bytesToServer = 0
    var bytesToClient = 0
    var toServer = Direction()
    var toClient = Direction()
    var matched: [MatchedIdentifier]?

    init(id: UInt64, transport: TransportProtocol, initiatorIsLow: Bool, start: Timestamp) {
        self.id = id
        self.transport = transport
        self.initiatorIsLow = initiatorIsLow
        self.start = start
        lastSeen = start
    }

    /// What free flow-table slots hold.
    static let placeholder = FlowRecord(id: 0, transport: .tcp, initiatorIsLow: true, start: Timestamp(microseconds: 0))

    mutating func count(_ direction: FlowDirection, wireLength: Int, at timestamp: Timestamp) {
        lastSeen = timestamp
        switch direction {
        case .toServer:
            packetsToServer &+= 1
            bytesToServer &+= wireLength
        case .toClient:
            packetsToClient &+= 1
            bytesToClient &+= wireLength
        }
    }

    var gaps: Int { toServer.stream.gapCount + toClient.stream.gapCount }

    /// Whether both directions are past everything the decoders look at.
    var isDoneProbing: Bool { toServer.isDone && toClient.isDone }

    /// Feeds a TCP segment to its direction; returns an observation if it completed one.
    mutating func feedTCP(_ direction: FlowDirection, packet: DecodedPacket, payload: UnsafeRawBufferPointer) -> Observation? {
        let handshake: BitTorrent.Handshake?
        switch direction {
        case .toServer:
            handshake = toServer.feed(sequence: packet.sequenceNumber, flags: packet.tcpFlags, payload: payload)
        case .toClient:
            handshake = toClient.feed(sequence: packet.sequenceNumber, flags: packet.tcpFlags, payload: payload)
        }
        guard let handshake else { return nil }
        // The side that opened the connection asks for the torrent; the answering side confirms
        // it has it.
        return Observation(
            proto: .bittorrent, message: .handshake, role: direction == .toServer ? .seeking : .offering,
            contentID: handshake.infoHash, peerID: handshake.peerID
        )
    }

    mutating func releaseBuffers() {
        toServer.stream.discardBuffered()
        toClient.stream.discardBuffered()
    }

    /// Records a sighting of a watch-listed identifier; returns whether it is the first on this flow.
    mutating func noteMatch(_ id: ContentID) -> Bool {
        if let index = matched?.firstIndex(where: { $0.id == id }) {
            matched?[index].sightings += 1
            return false
        }
        if matched == nil { matched = [] }
        matched?.append(MatchedIdentifier(id: id, sightings: 1))
        return true
    }

    /// Idle seconds after which this flow expires.
    func idleTimeout(_ configuration: EngineConfiguration) -> Int64 {
        switch transport {
        case .udp: configuration.udpIdleTimeout
        case .tcp: isClosing ? configuration.tcpClosedTimeout : configuration.tcpIdleTimeout
        }
    }
}
