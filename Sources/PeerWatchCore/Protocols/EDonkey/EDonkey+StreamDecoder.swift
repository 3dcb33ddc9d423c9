extension EDonkey {
    /// Whether a TCP direction opens an eDonkey or eMule frame.
    static func recognise(_ first: UnsafeRawBufferPointer) -> Recognition {
        Frames.recognise(first)
    }

    /// One direction of an eDonkey TCP flow: its frames, unpacked where packed.
    struct StreamDirection {
        private var assembler = MessageAssembler(maxHeld: Frames.headerLength + Frames.maxKept)
        private(set) var isDone = false
        /// File bytes this direction sent in parts.
        var partBytes: Int64 = 0

        mutating func decode(_ chunk: StreamChunk, direction: FlowDirection, peers: inout Peers, context: inout DecodeContext) {
            guard !isDone else { return }
            guard case .data(let bytes) = chunk else {
                isDone = true
                return
            }
            var partBytes = self.partBytes
            let status = assembler.feed(bytes, frame: Frames.frame) { frame, length in
                Self.frame(frame, length: length, direction: direction, peers: &peers, partBytes: &partBytes, context: &context)
                return true
            }
            self.partBytes = partBytes
            if case .violation = status { context.budgets.note(.framingViolation) }
            if status != .more { isDone = true }
        }

        private static func frame(_ frame: UnsafeRawBufferPointer, length: Int, direction: FlowDirection, peers: inout Peers, partBytes: inout Int64,
                                  context: inout DecodeContext) {
            guard frame.count >= Frames.headerLength + 1 else { return }
            let proto = frame[0], opcode = frame[5]
            let payload = UnsafeRawBufferPointer(rebasing: frame[(Frames.headerLength + 1)...])
            let fullLength = length - Frames.headerLength
            guard proto == packedProtocol else {
                Messages.decode(proto: proto, opcode: opcode, payload: payload, fullLength: fullLength, direction: direction, peers: &peers,
                                partBytes: &partBytes, context: &context)
                return
            }
            // A packed frame whose head alone was kept cannot be inflated.
            guard frame.count == length else { return }
            context.inflateMessage(payload) { plain, context in
                // Packed frames carry eMule extended opcodes, and eDonkey ones the extended set lacks.
                let proto = Messages.isKnown(emuleProtocol, opcode) ? emuleProtocol : edonkeyProtocol
                Messages.decode(proto: proto, opcode: opcode, payload: plain, fullLength: plain.count + 1, direction: direction, peers: &peers,
                                partBytes: &partBytes, context: &context)
            }
        }
    }

    /// The eDonkey state of a TCP flow.
    struct StreamState {
        var toServer = StreamDirection()
        var toClient = StreamDirection()
        var peers = Peers()
        /// The two directions' ciphers, for an obfuscated stream.
        var ciphers: (toServer: Cipher, toClient: Cipher)?

        init() {}

        /// The state of an obfuscated stream whose opening was read.
        init(obfuscated opened: (toServer: Obfuscation.RC4, toClient: Obfuscation.RC4, used: Int)) {
            ciphers = (Cipher(rc4: opened.toServer, headToSkip: 0), Cipher(rc4: opened.toClient, headToSkip: Obfuscation.responderHead))
        }

        var isDone: Bool { toServer.isDone && toClient.isDone }

        mutating func decode(_ chunk: StreamChunk, direction: FlowDirection, context: inout DecodeContext) -> DecodeStatus {
            if var ciphers, case .data(let bytes) = chunk {
                // Decrypted in order; a gap would lose the keystream's place, and ends the direction.
                switch direction {
                case .toServer: ciphers.toServer.decrypt(bytes) { toServer.decode(.data($0), direction: direction, peers: &peers, context: &context) }
                case .toClient: ciphers.toClient.decrypt(bytes) { toClient.decode(.data($0), direction: direction, peers: &peers, context: &context) }
                }
                self.ciphers = ciphers
                return isDone ? .done : .more
            }
            switch direction {
            case .toServer: toServer.decode(chunk, direction: direction, peers: &peers, context: &context)
            case .toClient: toClient.decode(chunk, direction: direction, peers: &peers, context: &context)
            }
            return isDone ? .done : .more
        }

        var flowEnd: FlowEnd {
            var end = FlowEnd()
            end.partBytesToServer = toServer.partBytes
            end.partBytesToClient = toClient.partBytes
            end.initiatorClient = peers.initiatorClient
            end.responderClient = peers.responderClient
            end.obfuscated = ciphers != nil
            return end
        }
    }
}
