extension BitTorrent {
    /// The BitTorrent state of a UDP flow: one socket of a client carries the DHT, uTP and
    /// tracker traffic alike, so each datagram is read as whichever it is. Made when a datagram
    /// first looks like one of them.
    struct DatagramState {
        var utpToServer = UTPStream()
        var utpToClient = UTPStream()
        var peerWireToServer = PeerWireDirection()
        var peerWireToClient = PeerWireDirection()
        var tracker = UDPTracker.Session()
        var session: Session?
        /// Which side sent the uTP SYN: it opened the connection, whoever spoke first on the UDP
        /// flow (the DHT shares the socket).
        var utpOpener: FlowDirection?
        /// Recent get_peers queries by transaction id, to tie responses to them.
        var pendingQueries: [(DHT.TransactionID, ContentID)] = []
        /// Transactions remembered per flow; a node keeps a handful in flight per peer.
        static let maxPendingQueries = 16

        /// Whether a datagram is plausibly BitTorrent's at all (worth state for its flow).
        static func recognise(_ payload: UnsafeRawBufferPointer, ports: PortPair) -> Recognition {
            if DHT.recognize(payload) { return .yes }
            if ports.destination == LSD.port, LSD.recognize(payload) { return .yes }
            if UTP.Header(payload) != nil { return .yes }
            // A BEP 15 connect request is 16 bytes; anything else is only read after one.
            if payload.count == 16 { return .yes }
            return .no
        }

        /// Reads one datagram: DHT, LSD, uTP or a UDP tracker, whichever it is.
        /// - Parameters:
        ///   - protocolsSeen: the flow's recognised protocols, one bit each.
        /// - Returns: whether the datagram was one of them (a flow whose datagrams are none of
        ///   them is let go after a few).
        mutating func decode(_ payload: UnsafeRawBufferPointer, direction: FlowDirection, ports: PortPair, protocolsSeen: UInt16,
                             context: inout DecodeContext) -> Bool {
            if DHT.recognize(payload), let message = try? DHT.decode(payload) {
                handleDHT(message, context: &context)
                context.recognised(.bittorrentDHT)
                return true
            }
            if ports.destination == LSD.port, LSD.recognize(payload) {
                if payload.count > LSD.maxMessageLength { context.budgets.note(.lsdOverLength) }
                LSD.decodeInfoHashes(payload) { id in
                    context.observe(Observation(.bittorrentLSD, .lsd, role: .seeking, contentID: id))
                }
                context.recognised(.bittorrentLSD)
                return true
            }
            if let header = UTP.Header(payload) {
                let data = UnsafeRawBufferPointer(rebasing: payload[header.payloadOffset...])
                if header.type == .syn { utpOpener = direction }
                var found = false
                let before = context.observations.count
                // In place (distinct stored properties): no copy of the framer's buffer.
                switch direction {
                case .toServer:
                    utpToServer.receive(header, payload: data) { chunk in
                        if peerWireToServer.consume(chunk, direction: direction, proto: .utp, session: &session, context: &context) { found = true }
                    }
                case .toClient:
                    utpToClient.receive(header, payload: data) { chunk in
                        if peerWireToClient.consume(chunk, direction: direction, proto: .utp, session: &session, context: &context) { found = true }
                    }
                }
                // The side that opened the uTP connection asks for the torrent.
                let opener = utpOpener ?? .toServer
                for index in before ..< context.observations.count where context.observations[index].message == .handshake {
                    context.observations[index].role = direction == opener ? .seeking : .offering
                }
                // A header alone is a weak sign: uTP counts once a handshake crosses it.
                if found || protocolsSeen & (1 << P2PProtocol.utp.rawValue) != 0 { context.recognised(.utp) }
                return true
            }
            if tracker.isTracker || payload.count == 16 {
                let before = context.observations.count
                let request = UDPTracker.decode(payload, session: &tracker) { id in
                    context.observe(Observation(.bittorrentTracker, .trackerAnnounce, role: .seeking, contentID: id))
                }
                if let request {
                    if request.exceedsLimit { context.budgets.note(.udpScrapeOverLimit) }
                    for index in before ..< context.observations.count {
                        context.observations[index].message = .bittorrent(request.isScrape ? .trackerScrape : .trackerAnnounce)
                        context.observations[index].role = request.role
                        context.observations[index].context = .bittorrent(Context(peerID: request.peerID, port: request.port,
                                                                                  trackerEvent: request.event, bytesLeft: request.bytesLeft))
                    }
                }
                if tracker.isTracker {
                    context.recognised(.bittorrentTracker)
                    return true
                }
            }
            return false
        }

        private mutating func handleDHT(_ message: DHT.Message, context: inout DecodeContext) {
            switch message.kind {
            case .query(.getPeers):
                guard let hash = message.infoHash else { return }
                context.observe(Observation(.bittorrentDHT, .dhtGetPeers, role: .seeking, contentID: hash))
                if pendingQueries.count >= Self.maxPendingQueries { pendingQueries.removeFirst() }
                pendingQueries.append((message.transactionID, hash))
            case .query(.announcePeer):
                guard let hash = message.infoHash else { return }
                let port = message.port.flatMap { UInt16(exactly: $0) }
                context.observe(Observation(.bittorrentDHT, .dhtAnnouncePeer, role: .offering, contentID: hash,
                                            context: Context(port: message.impliedPort ? nil : port)))
            case .query:
                return
            case .response:
                if let samples = message.samples {
                    var reader = ByteReader(samples)
                    while let bytes = reader.readBytes(count: 20) {
                        if let id = ContentID(kind: .btih, bytes: bytes) {
                            context.observe(Observation(.bittorrentDHT, .dhtSample, role: .offering, contentID: id))
                        }
                    }
                }
                // A response tied to a get_peers query: the responder returned peers for it.
                if let index = pendingQueries.firstIndex(where: { $0.0 == message.transactionID }) {
                    let hash = pendingQueries[index].1
                    pendingQueries.remove(at: index)
                    if message.valueCount > 0 {
                        context.observe(Observation(.bittorrentDHT, .dhtGetPeers, role: .offering, contentID: hash,
                                                    context: Context(peersReturned: message.valueCount)))
                    }
                }
            case .error:
                return
            }
        }

        mutating func followToEnd() {
            peerWireToServer.followToEnd()
            peerWireToClient.followToEnd()
        }

        /// The flow_end fields.
        var flowEnd: FlowEnd {
            var end = FlowEnd()
            end.pieceBytesToServer = peerWireToServer.pieceBytes
            end.pieceBytesToClient = peerWireToClient.pieceBytes
            end.initiatorClient = session?.exchange.initiatorClient
            end.responderClient = session?.exchange.responderClient
            end.torrent = session?.exchange.verified
            return end
        }

        /// Metadata bytes the flow holds from the shared budget.
        var metadataBytesHeld: Int { session?.exchange.bytesHeld ?? 0 }
    }
}
