extension BitTorrent {
    /// The metadata exchange a flow keeps once a handshake was seen, shared by both directions.
    /// Made once per BitTorrent flow.
    final class Session {
        var exchange: MetadataExchange

        init(infoHash: ContentID) {
            exchange = MetadataExchange(infoHash: infoHash)
        }
    }

    /// One direction of a peer wire, over TCP or uTP: the handshake scanner until the handshake,
    /// then the framer, whose extension messages go to the flow's metadata exchange.
    struct PeerWireDirection {
        var scanner = HandshakeScanner()
        var framer: PeerWireFramer?

        /// Whether nothing more is read in this direction.
        var isDone: Bool { scanner.isFinished && (framer?.isFinished ?? true) }

        /// Payload bytes of `piece` messages seen.
        var pieceBytes: Int64 { framer?.pieceBytes ?? 0 }

        /// Reads one chunk of the stream.
        /// - Returns: whether a handshake was found in it.
        mutating func consume(_ chunk: StreamChunk, direction: FlowDirection, proto: P2PProtocol, session: inout Session?,
                              context: inout DecodeContext) -> Bool {
            if !scanner.isFinished {
                var found = false
                var framer = self.framer
                scanner.consume(chunk) { handshake, rest, remainder in
                    found = true
                    context.observe(Self.observation(handshake, proto: proto, direction: direction))
                    let current = session ?? Session(infoHash: handshake.infoHash)
                    session = current
                    var started = PeerWireFramer(handshakeRemainder: remainder)
                    started.consume(.data(rest)) { message in
                        Self.handle(message, direction: direction, proto: proto, session: current, context: &context)
                    }
                    framer = started
                }
                self.framer = framer
                return found
            }
            guard framer?.isFinished == false, let current = session else { return false }
            // In place: a copy of the framer would share its buffer and copy it on the first write.
            framer?.consume(chunk) { message in
                Self.handle(message, direction: direction, proto: proto, session: current, context: &context)
            }
            return false
        }

        /// Keeps following the peer wire to the end of the flow (it matched: its transfer is evidence).
        mutating func followToEnd() {
            framer?.followToEnd = true
        }

        /// A handshake as an observation: the side that opened the connection asks for the
        /// torrent, the answering side confirms it has it.
        static func observation(_ handshake: Handshake, proto: P2PProtocol, direction: FlowDirection) -> Observation {
            Observation(proto, .handshake, role: direction == .toServer ? .seeking : .offering, contentID: handshake.infoHash,
                        context: Context(peerID: handshake.peerID))
        }

        private static func handle(_ message: UnsafeRawBufferPointer, direction: FlowDirection, proto: P2PProtocol, session: Session,
                                   context: inout DecodeContext) {
            guard let (_, info) = session.exchange.handle(message, from: direction, budget: &context.budgets.metadataBytes) else { return }
            // The sender moved the info dictionary: BEP 9 metadata, verified against the handshake.
            // A hybrid dictionary names both of its infohashes.
            for id in [info.infoHashV1, info.infoHashV2].compactMap({ $0 }) {
                context.observe(Observation(proto, .metadata, role: .transferring, contentID: id, context: Context(torrent: info)))
            }
        }
    }

    /// The BitTorrent state of a TCP flow, from its first payload on: a peer wire reader per
    /// direction. While the flow is probing, it is how BitTorrent recognises it (a handshake
    /// anywhere in the first 8 KiB of a direction); once recognised, it reads on.
    struct StreamState {
        var toServer = PeerWireDirection()
        var toClient = PeerWireDirection()
        var session: Session?
        /// Each direction's first payload: whether it could be an MSE key exchange (nil: none yet).
        var firstPayloadCouldBeMSE: (toServer: Bool?, toClient: Bool?) = (nil, nil)
        private var mseDecided = false

        /// Whether both directions have nothing more to read.
        var isDone: Bool { toServer.isDone && toClient.isDone }

        /// Reads one in-order chunk of `direction`.
        /// - Returns: whether the chunk held the flow's first handshake (BitTorrent recognised it).
        mutating func consume(_ chunk: StreamChunk, direction: FlowDirection, context: inout DecodeContext) -> Bool {
            let found: Bool
            switch direction {
            case .toServer: found = toServer.consume(chunk, direction: direction, proto: .bittorrent, session: &session, context: &context)
            case .toClient: found = toClient.consume(chunk, direction: direction, proto: .bittorrent, session: &session, context: &context)
            }
            if found { context.recognised(.bittorrent) }
            return found
        }

        /// Notes a segment's payload, for the MSE guess (only each direction's first counts).
        mutating func notePayload(_ payload: UnsafeRawBufferPointer, direction: FlowDirection) {
            guard !payload.isEmpty else { return }
            switch direction {
            case .toServer where firstPayloadCouldBeMSE.toServer == nil: firstPayloadCouldBeMSE.toServer = MSE.couldBeKeyExchange(payload)
            case .toClient where firstPayloadCouldBeMSE.toClient == nil: firstPayloadCouldBeMSE.toClient = MSE.couldBeKeyExchange(payload)
            default: break
            }
        }

        /// Once both sides have sent their first payload, whether the flow opened like an MSE
        /// negotiation with nothing readable: `true` exactly once, when it did.
        mutating func decideEncrypted(recognised: Bool, startedMidStream: Bool) -> Bool {
            guard !mseDecided, let first = firstPayloadCouldBeMSE.toServer, let second = firstPayloadCouldBeMSE.toClient else { return false }
            mseDecided = true
            return !recognised && !startedMidStream && first && second
        }

        mutating func followToEnd() {
            toServer.followToEnd()
            toClient.followToEnd()
        }

        /// The flow_end fields.
        var flowEnd: FlowEnd {
            var end = FlowEnd()
            end.pieceBytesToServer = toServer.pieceBytes
            end.pieceBytesToClient = toClient.pieceBytes
            end.initiatorClient = session?.exchange.initiatorClient
            end.responderClient = session?.exchange.responderClient
            end.torrent = session?.exchange.verified
            return end
        }

        /// Metadata bytes the flow holds from the shared budget.
        var metadataBytesHeld: Int { session?.exchange.bytesHeld ?? 0 }
    }
}
