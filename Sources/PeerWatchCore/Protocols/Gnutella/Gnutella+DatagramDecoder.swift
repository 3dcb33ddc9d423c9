extension Gnutella {
    /// G2 over UDP: an 8-byte `GND` header (flags: deflated, acknowledge; a sequence number;
    /// part and part count), then the packet or one part of it.
    enum GND {
        static let headerLength = 8
        /// Parts of one packet reassembled (G2 parts are about 500 bytes; a packet a few KiB).
        static let maxParts = 32
        static let maxPacket = 64 * 1024

        /// Whether a datagram has a `GND` header with a plausible part and count.
        static func recognise(_ payload: UnsafeRawBufferPointer) -> Bool {
            let reader = ByteReader(payload)
            guard payload.count >= headerLength, reader.peekByte(at: 0) == UInt8(ascii: "G"), reader.peekByte(at: 1) == UInt8(ascii: "N"),
                  reader.peekByte(at: 2) == UInt8(ascii: "D"), let part = reader.peekByte(at: 6), let count = reader.peekByte(at: 7) else { return false }
            // An acknowledgement has a count of 0.
            return count == 0 ? payload.count == headerLength : part >= 1 && part <= count && Int(count) <= maxParts
        }
    }

    /// The Gnutella state of a UDP flow: a servent's one socket carries Gnutella descriptors,
    /// G2 datagrams and the Mojito DHT alike.
    struct DatagramState {
        /// Parts of a G2 packet in reassembly (one packet per flow at a time).
        private var partsSequence: UInt16 = 0
        private var partsDirection = FlowDirection.toServer
        private var parts: [[UInt8]?] = []
        private var partsDeflated = false

        /// Whether a datagram is plausibly the family's (worth state for its flow).
        static func recognise(_ payload: UnsafeRawBufferPointer) -> Recognition {
            Descriptor.isDatagram(payload) || Mojito.recognise(payload) || GND.recognise(payload) ? .yes : .no
        }

        /// Reads one datagram.
        /// - Returns: whether it was one of the family's.
        mutating func decode(_ payload: UnsafeRawBufferPointer, direction: FlowDirection, context: inout DecodeContext) -> Bool {
            if Mojito.recognise(payload) {
                context.recognised(.gnutellaDHT)
                Mojito.decode(payload, context: &context)
                return true
            }
            if Descriptor.isDatagram(payload) {
                context.recognised(.gnutella)
                Descriptor.decode(payload, proto: .gnutella, client: nil, context: &context)
                return true
            }
            if GND.recognise(payload) {
                context.recognised(.gnutella2)
                g2(payload, direction: direction, context: &context)
                return true
            }
            return false
        }

        private mutating func g2(_ payload: UnsafeRawBufferPointer, direction: FlowDirection, context: inout DecodeContext) {
            let flags = payload[3], sequence = UInt16(payload[4]) | UInt16(payload[5]) << 8, part = Int(payload[6]), count = Int(payload[7])
            guard count > 0 else { return }
            let data = UnsafeRawBufferPointer(rebasing: payload[GND.headerLength...])
            let deflated = flags & 0x01 != 0
            if count == 1 {
                Self.packets(data, deflated: deflated, context: &context)
                return
            }
            if parts.count != count || partsSequence != sequence || partsDirection != direction {
                parts = Array(repeating: nil, count: count)
                partsSequence = sequence
                partsDirection = direction
                partsDeflated = deflated
            }
            let held = parts.reduce(0) { $0 + ($1?.count ?? 0) }
            guard held + data.count <= GND.maxPacket else {
                parts = []
                return
            }
            parts[part - 1] = Array(data)
            guard parts.allSatisfy({ $0 != nil }) else { return }
            let whole = parts.flatMap { $0 ?? [] }
            parts = []
            whole.withUnsafeBytes { Self.packets($0, deflated: partsDeflated, context: &context) }
        }

        /// The G2 packets of one reassembled datagram.
        private static func packets(_ data: UnsafeRawBufferPointer, deflated: Bool, context: inout DecodeContext) {
            guard deflated else { return each(data, context: &context) }
            context.inflateMessage(data) { plain, context in each(plain, context: &context) }
        }

        private static func each(_ data: UnsafeRawBufferPointer, context: inout DecodeContext) {
            var offset = 0
            while offset < data.count {
                let rest = UnsafeRawBufferPointer(rebasing: data[offset...])
                guard case .header(let header) = G2.header(rest), header.totalLength <= rest.count else { return }
                G2.decode(UnsafeRawBufferPointer(rebasing: rest[0 ..< header.totalLength]), client: nil, context: &context)
                offset += header.totalLength
            }
        }
    }
}
