extension Gnutella {
    /// Whether a TCP direction opens a Gnutella 0.6 handshake (`GNUTELLA CONNECT/0.6` from the
    /// initiator, `GNUTELLA/0.6 200` back).
    static func recognise(_ first: UnsafeRawBufferPointer) -> Recognition {
        openingMatch(first, "GNUTELLA")
    }

    /// One direction of a Gnutella link: its handshake blocks, then descriptors (or G2 packets
    /// if its `Content-Type` says `application/x-gnutella2`), inflated first if its
    /// `Content-Encoding` says `deflate`.
    struct LinkDirection {
        /// Larger handshake blocks are not real (Zeek caps a Gnutella line far below).
        static let maxHandshakeBlock = 16 * 1024

        enum Phase: UInt8 {
            case handshake
            case link
            case done
        }

        private(set) var phase = Phase.handshake
        private var block: [UInt8] = []
        private var expectsFinalBlock = false
        private(set) var deflated = false
        private var g2 = false
        /// The sender's `User-Agent`.
        private(set) var userAgent: String?
        private var stream = DeflatedStream()
        private var assembler = MessageAssembler(maxHeld: Descriptor.headerLength + Descriptor.maxPayload)
        /// Link bytes after the handshake (inflated, where the link is deflated).
        private(set) var linkBytes: Int64 = 0

        var isDone: Bool { phase == .done }

        /// Reads one chunk of the direction.
        mutating func decode(_ chunk: StreamChunk, context: inout DecodeContext) -> DecodeStatus {
            guard case .data(var bytes) = chunk else { return finish(budgets: &context.budgets) }
            if phase == .handshake {
                guard let rest = handshake(bytes, context: &context) else { return phase == .done ? .done : .more }
                bytes = rest
            }
            guard phase == .link, !bytes.isEmpty else { return phase == .done ? .done : .more }
            let status: DecodeStatus
            if deflated {
                var stream = self.stream
                self.stream = DeflatedStream()
                status = stream.feed(bytes, context: &context) { plain, context in self.link(plain, context: &context) }
                self.stream = stream
            } else {
                status = link(bytes, context: &context)
            }
            if case .violation = status { context.budgets.note(.framingViolation) }
            if status != .more { return finish(budgets: &context.budgets) }
            return .more
        }

        /// Gives back what the direction holds.
        mutating func finish(budgets: inout SharedBudgets) -> DecodeStatus {
            phase = .done
            block = []
            stream.end(budgets: &budgets)
            return .done
        }

        private mutating func link(_ plain: UnsafeRawBufferPointer, context: inout DecodeContext) -> DecodeStatus {
            linkBytes &+= Int64(plain.count)
            let client = userAgent
            if g2 {
                return assembler.feed(plain, frame: G2.frame) { packet, _ in
                    G2.decode(packet, client: client, context: &context)
                    return true
                }
            }
            return assembler.feed(plain, frame: Descriptor.frame) { descriptor, _ in
                Descriptor.decode(descriptor, proto: .gnutella, client: client, context: &context)
                return true
            }
        }

        /// Collects handshake blocks; returns the bytes after the last one, once the link begins.
        private mutating func handshake(_ bytes: UnsafeRawBufferPointer, context: inout DecodeContext) -> UnsafeRawBufferPointer? {
            var input = bytes
            while !input.isEmpty {
                // After a CONNECT block, anything but another block begins the link.
                if expectsFinalBlock, block.isEmpty, input.first != UInt8(ascii: "G") {
                    phase = .link
                    return input
                }
                let searchFrom = max(0, block.count - 3)
                let take = min(input.count, Self.maxHandshakeBlock - block.count)
                block.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[0 ..< take]))
                guard let end = block.withUnsafeBytes({ HTTPText.headerBlockEnd(in: $0, from: searchFrom) }) else {
                    if block.count >= Self.maxHandshakeBlock {
                        context.budgets.note(.framingViolation)
                        _ = finish(budgets: &context.budgets)
                    }
                    return nil
                }
                let usedFromInput = end - (block.count - take)
                input = UnsafeRawBufferPointer(rebasing: input[usedFromInput...])
                let verdict = block.withUnsafeBytes { readBlock(UnsafeRawBufferPointer(rebasing: $0[0 ..< end])) }
                block.removeAll(keepingCapacity: false)
                switch verdict {
                case .connect:
                    context.recognised(.gnutella)
                    expectsFinalBlock = true
                case .accepted:
                    context.recognised(.gnutella)
                    phase = .link
                    return input
                case .refused:
                    context.recognised(.gnutella)
                    _ = finish(budgets: &context.budgets)
                    return nil
                case .notGnutella:
                    _ = finish(budgets: &context.budgets)
                    return nil
                }
            }
            return nil
        }

        private enum BlockVerdict {
            case connect, accepted, refused, notGnutella
        }

        /// Reads a handshake block's status line and the headers that shape the link.
        private mutating func readBlock(_ block: UnsafeRawBufferPointer) -> BlockVerdict {
            var verdict = BlockVerdict.notGnutella
            var first = true
            HTTPText.forEachLine(block) { line in
                if first {
                    first = false
                    if openingMatch(line, "GNUTELLA CONNECT/") == .yes {
                        verdict = .connect
                    } else if openingMatch(line, "GNUTELLA/") == .yes {
                        // "GNUTELLA/0.6 200 OK"
                        let reader = ByteReader(line)
                        let code = reader.peekBytes(count: 3, at: 13)
                        verdict = code.map { $0[0] == UInt8(ascii: "2") && $0[1] == UInt8(ascii: "0") && $0[2] == UInt8(ascii: "0") } == true ? .accepted : .refused
                    } else {
                        return false
                    }
                    return true
                }
                if let value = HTTPText.headerValue(line, name: "content-encoding") {
                    if HTTPText.contains(value, "deflate") { deflated = true }
                } else if let value = HTTPText.headerValue(line, name: "content-type") {
                    if HTTPText.contains(value, "application/x-gnutella2") { g2 = true }
                } else if let value = HTTPText.headerValue(line, name: "user-agent") {
                    userAgent = String(wire: HTTPText.trim(value), limit: 128)
                }
                return true
            }
            return verdict
        }
    }

    /// The Gnutella state of a TCP flow: a link direction each way.
    struct StreamState {
        var toServer = LinkDirection()
        var toClient = LinkDirection()

        var isDone: Bool { toServer.isDone && toClient.isDone }

        mutating func decode(_ chunk: StreamChunk, direction: FlowDirection, context: inout DecodeContext) -> DecodeStatus {
            switch direction {
            case .toServer: _ = toServer.decode(chunk, context: &context)
            case .toClient: _ = toClient.decode(chunk, context: &context)
            }
            return isDone ? .done : .more
        }

        /// Gives back the inflaters.
        mutating func release(budgets: inout SharedBudgets) {
            _ = toServer.finish(budgets: &budgets)
            _ = toClient.finish(budgets: &budgets)
        }

        var flowEnd: FlowEnd {
            var end = FlowEnd()
            end.initiatorClient = toServer.userAgent
            end.responderClient = toClient.userAgent
            end.linkBytesToServer = toServer.linkBytes
            end.linkBytesToClient = toClient.linkBytes
            end.deflatedToServer = toServer.deflated
            end.deflatedToClient = toClient.deflated
            return end
        }
    }
}
