/// What the engine keeps per flow: counters, the protocol phase, and per direction a
/// reassembler and the decoders' scan state. Small and fixed; the UDP decoders' state lives in
/// a box made only for flows that show a P2P sign.
struct FlowRecord {
    enum Phase: UInt8 {
        /// Still looking at the first bytes for a P2P sign.
        case probing
        /// Recognised as P2P; decoders keep reading.
        case p2p
        /// No P2P sign: only counters from now on.
        case uninteresting
    }

    /// One TCP direction's stream state.
    struct Direction {
        var stream = StreamReassembler()
        var peerWire = PeerWireDirection()
        var request = HTTPRequestLineScanner()
        var response = HTTPResponseScanner()

        /// The length of this direction's first payload and whether it could be an MSE key
        /// exchange (-1: no payload yet).
        var firstPayloadLength = -1
        var firstPayloadCouldBeMSE = false

        /// Whether nothing in this direction needs reading any more.
        var isDone: Bool { peerWire.isDone && request.isFinished && response.isFinished }

        /// Reassembles one segment and runs the stream decoders over what comes out in order.
        mutating func feed(
            sequence: UInt32, flags: TCPFlags, payload: UnsafeRawBufferPointer, direction: FlowDirection,
            session: inout BitTorrentSession?, budgets: inout SharedBudgets, into observations: inout [Observation]
        ) -> P2PProtocol? {
            if firstPayloadLength < 0, !payload.isEmpty {
                firstPayloadLength = payload.count
                firstPayloadCouldBeMSE = BitTorrent.MSE.couldBeKeyExchange(payload)
            }
            guard !isDone else { return nil }
            // The decoders are moved out while the reassembler calls back, so that each local is
            // the only owner of its buffers: a plain copy would share them and copy-on-write would
            // copy a whole collected body (up to 8 MiB) for every segment.
            var peerWire = take(&self.peerWire, leaving: PeerWireDirection())
            var requestScanner = take(&request, leaving: HTTPRequestLineScanner())
            var responseScanner = take(&response, leaving: HTTPResponseScanner())
            var sign: P2PProtocol?
            stream.receive(sequence: sequence, flags: flags, payload: payload) { chunk in
                if !peerWire.isDone,
                   peerWire.consume(chunk, direction: direction, proto: .bittorrent, session: &session, budget: &budgets.metadataBytes, observations: &observations) {
                    sign = .bittorrent
                }
                if !responseScanner.isFinished {
                    let overBefore = responseScanner.bodiesOverBudget
                    defer { budgets.note(.httpBodyOverBudget, count: responseScanner.bodiesOverBudget - overBefore) }
                    responseScanner.consume(chunk, budget: &budgets.httpBodyBytes) { finding in
                        switch finding {
                        case .torrentFile(let bytes):
                            guard let info = TorrentInfo(torrentFile: bytes) else { return }
                            for id in [info.infoHashV1, info.infoHashV2].compactMap({ $0 }) {
                                observations.append(Observation(proto: .http, message: .httpTorrent, role: .seeking, contentID: id,
                                                                context: ObservationContext(torrent: info)))
                            }
                        case .magnet(let id):
                            observations.append(Observation(proto: .http, message: .httpMagnet, role: .seeking, contentID: id))
                        }
                        sign = sign ?? .http
                    }
                }
                if !requestScanner.isFinished {
                    requestScanner.consume(chunk) { line in
                        MagnetLink.scan(line) { id in
                            sign = sign ?? .http
                            observations.append(Observation(proto: .http, message: .httpMagnet, role: .seeking, contentID: id))
                        }
                        let before = observations.count
                        let request = BitTorrent.HTTPTracker.decode(requestLine: line) { id in
                            observations.append(Observation(proto: .bittorrentTracker, message: .trackerAnnounce, role: .seeking, contentID: id))
                        }
                        guard let request else { return }
                        sign = sign ?? .bittorrentTracker
                        for index in before ..< observations.count {
                            observations[index].message = request.isScrape ? .trackerScrape : .trackerAnnounce
                            observations[index].role = request.role
                            observations[index].context = ObservationContext(peerID: request.peerID, port: request.port,
                                                                             trackerEvent: request.event, bytesLeft: request.bytesLeft)
                        }
                    }
                }
            }
            self.peerWire = peerWire
            request = requestScanner
            response = responseScanner
            return sign
        }
    }

    /// The state of a UDP flow's decoders, made when the flow first looks like P2P.
    final class UDPState {
        var utpToServer = BitTorrent.UTPStream()
        var utpToClient = BitTorrent.UTPStream()
        var peerWireToServer = PeerWireDirection()
        var peerWireToClient = PeerWireDirection()
        var tracker = BitTorrent.UDPTracker.Session()
        /// Which side sent the uTP SYN: it opened the connection, whoever spoke first on the
        /// UDP flow (the DHT shares the socket).
        var utpOpener: FlowDirection?
        /// Recent get_peers queries by transaction id, to tie responses to them.
        var pendingQueries: [(BitTorrent.DHT.TransactionID, ContentID)] = []
        /// Transactions remembered per flow; a node keeps a handful in flight per peer.
        static let maxPendingQueries = 16
    }

    /// UDP datagrams looked at before a flow with no P2P sign is let go.
    static let maxUnrecognizedDatagrams = 4

    let id: UInt64
    let transport: TransportProtocol
    let initiatorIsLow: Bool
    let start: Timestamp
    var lastSeen: Timestamp
    var phase = Phase.probing
    /// The first P2P protocol recognised (the flow's `app_proto`).
    var proto: P2PProtocol?
    /// Every P2P protocol recognised, one bit each.
    var protocolsSeen: UInt8 = 0
    var isClosing = false
    var packetsToServer = 0
    var packetsToClient = 0
    var bytesToServer = 0
    var bytesToClient = 0
    var unrecognizedDatagrams = 0
    /// Whether the flow opened like an MSE negotiation (decided once both sides sent data).
    var likelyEncryptedBitTorrent = false
    private var mseDecided = false
    var toServer = Direction()
    var toClient = Direction()
    var udp: UDPState?
    var bittorrent: BitTorrentSession?
    var matched: [MatchedIdentifier]?

    init(id: UInt64, transport: TransportProtocol, initiatorIsLow: Bool, start: Timestamp) {
        self.id = id
        self.transport = transport
        self.initiatorIsLow = initiatorIsLow
        self.start = start
        lastSeen = start
    }

    /// What free flow-table slots hold.
    static var placeholder: FlowRecord { FlowRecord(id: 0, transport: .tcp, initiatorIsLow: true, start: Timestamp(microseconds: 0)) }

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

    /// Whether everything the decoders look at has gone by.
    var isDoneProbing: Bool {
        switch transport {
        case .tcp: toServer.isDone && toClient.isDone
        case .udp: proto == nil && unrecognizedDatagrams >= Self.maxUnrecognizedDatagrams
        }
    }

    /// Notes that `proto` was recognised; returns whether it is new on this flow.
    mutating func recognize(_ proto: P2PProtocol) -> Bool {
        let bit: UInt8 = 1 << proto.rawValue
        if self.proto == nil { self.proto = proto }
        guard protocolsSeen & bit == 0 else { return false }
        protocolsSeen |= bit
        return true
    }

    /// Feeds a TCP segment to its direction.
    /// - Returns: the P2P protocol the segment showed, if any.
    mutating func feedTCP(_ direction: FlowDirection, packet: DecodedPacket, payload: UnsafeRawBufferPointer,
                          budgets: inout SharedBudgets, into observations: inout [Observation]) -> P2PProtocol? {
        switch direction {
        case .toServer:
            toServer.feed(sequence: packet.sequenceNumber, flags: packet.tcpFlags, payload: payload, direction: direction,
                          session: &bittorrent, budgets: &budgets, into: &observations)
        case .toClient:
            toClient.feed(sequence: packet.sequenceNumber, flags: packet.tcpFlags, payload: payload, direction: direction,
                          session: &bittorrent, budgets: &budgets, into: &observations)
        }
    }

    /// Feeds one UDP datagram: DHT, LSD, uTP or a UDP tracker.
    /// - Returns: the P2P protocol the datagram showed, if any.
    mutating func feedUDP(_ direction: FlowDirection, packet: DecodedPacket, payload: UnsafeRawBufferPointer,
                          budgets: inout SharedBudgets, into observations: inout [Observation]) -> P2PProtocol? {
        if BitTorrent.DHT.recognize(payload), let message = try? BitTorrent.DHT.decode(payload) {
            handleDHT(message, into: &observations)
            return .bittorrentDHT
        }
        if packet.destinationPort == BitTorrent.LSD.port, BitTorrent.LSD.recognize(payload) {
            if payload.count > BitTorrent.LSD.maxMessageLength { budgets.note(.lsdOverLength) }
            BitTorrent.LSD.decodeInfoHashes(payload) { id in
                observations.append(Observation(proto: .bittorrentLSD, message: .lsd, role: .seeking, contentID: id))
            }
            return .bittorrentLSD
        }
        if let header = BitTorrent.UTP.Header(payload) {
            let state = udpState()
            let data = UnsafeRawBufferPointer(rebasing: payload[header.payloadOffset...])
            if header.type == .syn { state.utpOpener = direction }
            var found = false
            var session = bittorrent
            let before = observations.count
            switch direction {
            case .toServer:
                // In place (distinct stored properties of the box): no copy of the framer's buffer.
                state.utpToServer.receive(header, payload: data) { chunk in
                    if state.peerWireToServer.consume(chunk, direction: direction, proto: .utp, session: &session, budget: &budgets.metadataBytes,
                                                      observations: &observations) { found = true }
                }
            case .toClient:
                state.utpToClient.receive(header, payload: data) { chunk in
                    if state.peerWireToClient.consume(chunk, direction: direction, proto: .utp, session: &session, budget: &budgets.metadataBytes,
                                                      observations: &observations) { found = true }
                }
            }
            bittorrent = session
            // The side that opened the uTP connection asks for the torrent.
            let opener = state.utpOpener ?? .toServer
            for index in before ..< observations.count where observations[index].message == .handshake {
                observations[index].role = direction == opener ? .seeking : .offering
            }
            if found { return .utp }
            // A header alone is a weak sign: uTP counts once a handshake crosses it.
            return protocolsSeen & (1 << P2PProtocol.utp.rawValue) != 0 ? .utp : nil
        }
        if udp?.tracker.isTracker == true || payload.count == 16 {
            let state = udpState()
            let before = observations.count
            let request = BitTorrent.UDPTracker.decode(payload, session: &state.tracker) { id in
                observations.append(Observation(proto: .bittorrentTracker, message: .trackerAnnounce, role: .seeking, contentID: id))
            }
            if let request {
                if request.exceedsLimit { budgets.note(.udpScrapeOverLimit) }
                for index in before ..< observations.count {
                    observations[index].message = request.isScrape ? .trackerScrape : .trackerAnnounce
                    observations[index].role = request.role
                    observations[index].context = ObservationContext(peerID: request.peerID, port: request.port,
                                                                     trackerEvent: request.event, bytesLeft: request.bytesLeft)
                }
            }
            if state.tracker.isTracker { return .bittorrentTracker }
            if udp?.pendingQueries.isEmpty == true, proto == nil { udp = nil }
        }
        unrecognizedDatagrams &+= 1
        return nil
    }

    /// Decides, once both sides have sent their first payload, whether the flow opened like an
    /// MSE negotiation with nothing readable: returns `true` exactly once, when it did.
    mutating func decideEncrypted() -> Bool {
        guard !mseDecided, transport == .tcp, toServer.firstPayloadLength >= 0, toClient.firstPayloadLength >= 0 else { return false }
        mseDecided = true
        likelyEncryptedBitTorrent = proto == nil && !toServer.stream.startedMidStream
            && toServer.firstPayloadCouldBeMSE && toClient.firstPayloadCouldBeMSE
        return likelyEncryptedBitTorrent
    }

    /// A matched flow's peer wire is followed to its end (the transfer is evidence).
    mutating func followPeerWireToEnd() {
        toServer.peerWire.followToEnd()
        toClient.peerWire.followToEnd()
        udp?.peerWireToServer.followToEnd()
        udp?.peerWireToClient.followToEnd()
    }

    /// Bytes of the shared HTTP body budget this flow's scanners hold.
    var httpBodyBytesHeld: Int { toServer.response.bytesHeld + toClient.response.bytesHeld }

    /// Payload bytes of `piece` messages, from the initiator and to it.
    var pieceBytes: (toServer: Int64, toClient: Int64) {
        (toServer.peerWire.pieceBytes + (udp?.peerWireToServer.pieceBytes ?? 0),
         toClient.peerWire.pieceBytes + (udp?.peerWireToClient.pieceBytes ?? 0))
    }

    private mutating func udpState() -> UDPState {
        if let udp { return udp }
        let state = UDPState()
        udp = state
        return state
    }

    private mutating func handleDHT(_ message: BitTorrent.DHT.Message, into observations: inout [Observation]) {
        switch message.kind {
        case .query(.getPeers):
            guard let hash = message.infoHash else { return }
            observations.append(Observation(proto: .bittorrentDHT, message: .dhtGetPeers, role: .seeking, contentID: hash))
            let state = udpState()
            if state.pendingQueries.count >= UDPState.maxPendingQueries { state.pendingQueries.removeFirst() }
            state.pendingQueries.append((message.transactionID, hash))
        case .query(.announcePeer):
            guard let hash = message.infoHash else { return }
            let port = message.port.flatMap { UInt16(exactly: $0) }
            observations.append(Observation(proto: .bittorrentDHT, message: .dhtAnnouncePeer, role: .offering, contentID: hash,
                                            context: ObservationContext(port: message.impliedPort ? nil : port)))
        case .query:
            return
        case .response:
            if let samples = message.samples {
                var reader = ByteReader(samples)
                while let bytes = reader.readBytes(count: 20) {
                    if let id = ContentID(kind: .btih, bytes: bytes) {
                        observations.append(Observation(proto: .bittorrentDHT, message: .dhtSample, role: .offering, contentID: id))
                    }
                }
            }
            // A response tied to a get_peers query: the responder returned peers for it.
            if let state = udp, let index = state.pendingQueries.firstIndex(where: { $0.0 == message.transactionID }) {
                let hash = state.pendingQueries[index].1
                state.pendingQueries.remove(at: index)
                if message.valueCount > 0 {
                    observations.append(Observation(proto: .bittorrentDHT, message: .dhtGetPeers, role: .offering, contentID: hash,
                                                    context: ObservationContext(peersReturned: message.valueCount)))
                }
            }
        case .error:
            return
        }
    }

    /// A handshake as an observation: the side that opened the connection asks for the torrent,
    /// the answering side confirms it has it.
    static func observation(_ handshake: BitTorrent.Handshake, proto: P2PProtocol, direction: FlowDirection) -> Observation {
        Observation(proto: proto, message: .handshake, role: direction == .toServer ? .seeking : .offering,
                    contentID: handshake.infoHash, context: ObservationContext(peerID: handshake.peerID))
    }

    mutating func releaseBuffers() {
        toServer.stream.discardBuffered()
        toClient.stream.discardBuffered()
    }

    /// Records a sighting of a watch-listed identifier; returns whether it is the first on this
    /// flow by this protocol.
    mutating func noteMatch(_ id: ContentID, proto: P2PProtocol) -> Bool {
        if let index = matched?.firstIndex(where: { $0.id == id && $0.proto == proto }) {
            matched?[index].sightings += 1
            return false
        }
        if matched == nil { matched = [] }
        matched?.append(MatchedIdentifier(id: id, proto: proto, sightings: 1))
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

/// Moves `value` out, leaving `empty` in its place, so that the caller owns the only reference
/// to its buffers and can mutate them without a copy-on-write copy.
@inline(__always)
func take<Value>(_ value: inout Value, leaving empty: Value) -> Value {
    var moved = empty
    swap(&moved, &value)
    return moved
}
