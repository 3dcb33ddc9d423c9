/// The BitTorrent state a flow keeps once a handshake was seen: the metadata exchange shared by
/// both directions. Made once per BitTorrent flow.
final class BitTorrentSession {
    var exchange: BitTorrent.MetadataExchange

    init(infoHash: ContentID) {
        exchange = BitTorrent.MetadataExchange(infoHash: infoHash)
    }
}

/// One direction of a BitTorrent peer wire, over TCP or uTP: the handshake scanner until the
/// handshake, then the framer, whose extension messages go to the flow's metadata exchange.
struct PeerWireDirection {
    var scanner = BitTorrent.HandshakeScanner()
    var framer: BitTorrent.PeerWireFramer?

    /// Whether nothing more is read in this direction.
    var isDone: Bool { scanner.isFinished && (framer?.isFinished ?? true) }

    /// Payload bytes of `piece` messages seen.
    var pieceBytes: Int64 { framer?.pieceBytes ?? 0 }

    /// Reads one chunk of the stream.
    /// - Returns: whether a handshake was found in it.
    mutating func consume(
        _ chunk: StreamChunk, direction: FlowDirection, proto: P2PProtocol, session: inout BitTorrentSession?,
        budget: inout Int, observations: inout [Observation]
    ) -> Bool {
        if !scanner.isFinished {
            var found = false
            var framer = self.framer
            scanner.consume(chunk) { handshake, rest, remainder in
                found = true
                observations.append(FlowRecord.observation(handshake, proto: proto, direction: direction))
                let current = session ?? BitTorrentSession(infoHash: handshake.infoHash)
                session = current
                var started = BitTorrent.PeerWireFramer(handshakeRemainder: remainder)
                started.consume(.data(rest)) { message in
                    Self.handle(message, direction: direction, proto: proto, session: current, budget: &budget, observations: &observations)
                }
                framer = started
            }
            self.framer = framer
            return found
        }
        guard framer?.isFinished == false, let current = session else { return false }
        // In place: a copy of the framer would share its buffer and copy it on the first write.
        framer?.consume(chunk) { message in
            Self.handle(message, direction: direction, proto: proto, session: current, budget: &budget, observations: &observations)
        }
        return false
    }

    /// Keeps following the peer wire to the end of the flow (it matched: its transfer is evidence).
    mutating func followToEnd() {
        framer?.followToEnd = true
    }

    private static func handle(
        _ message: UnsafeRawBufferPointer, direction: FlowDirection, proto: P2PProtocol, session: BitTorrentSession,
        budget: inout Int, observations: inout [Observation]
    ) {
        guard let (_, info) = session.exchange.handle(message, from: direction, budget: &budget) else { return }
        // The sender moved the info dictionary: BEP 9 metadata, verified against the handshake.
        // A hybrid dictionary names both of its infohashes.
        for id in [info.infoHashV1, info.infoHashV2].compactMap({ $0 }) {
            observations.append(Observation(proto: proto, message: .metadata, role: .transferring, contentID: id,
                                            context: ObservationContext(torrent: info)))
        }
    }
}
