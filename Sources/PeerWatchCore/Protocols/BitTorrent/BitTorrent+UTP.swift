extension BitTorrent {
    /// uTP, the Micro Transport Protocol (BEP 29): the peer wire over UDP.
    ///
    /// ```
    /// 0       4       8               16              24              32
    /// +-------+-------+---------------+---------------+---------------+
    /// | type  | ver   | extension     | connection_id                 |
    /// +-------+-------+---------------+---------------+---------------+
    /// | timestamp_microseconds                                        |
    /// | timestamp_difference_microseconds                             |
    /// | wnd_size                                                      |
    /// +---------------+---------------+---------------+---------------+
    /// | seq_nr                        | ack_nr                        |
    /// +---------------+---------------+---------------+---------------+
    /// then extensions: (next extension, length, bytes)*, then the payload
    /// ```
    public enum UTP {
        /// The packet types (`type`).
        public enum PacketType: UInt8, Sendable {
            case data = 0, fin = 1, state = 2, reset = 3, syn = 4
        }

        /// The only version BEP 29 defines.
        public static let version: UInt8 = 1
        /// Real packets carry one or two extensions (selective ack, extension bits).
        public static let maxExtensions = 4
        /// Selective ack bitmasks are a multiple of 4 bytes and at most 32 in practice.
        public static let maxExtensionLength = 64

        /// A validated uTP header; after the check, no accessor fails.
        public struct Header: Sendable, Hashable {
            public var type: PacketType
            public var connectionID: UInt16
            public var sequenceNumber: UInt16
            public var acknowledgmentNumber: UInt16
            /// Where the payload starts in the datagram.
            public var payloadOffset: Int

            /// Checks and decodes a header: version 1, a known type, a well-formed extension
            /// chain, and for data packets a non-empty payload. Returns `nil` otherwise.
            public init?(_ datagram: UnsafeRawBufferPointer) {
                var reader = ByteReader(datagram)
                guard let typeVersion = reader.readByte(), typeVersion & 0x0F == UTP.version,
                      let type = PacketType(rawValue: typeVersion >> 4),
                      var next = reader.readByte(),
                      let connectionID = reader.readInteger(as: UInt16.self),
                      reader.skip(12),
                      let sequence = reader.readInteger(as: UInt16.self),
                      let acknowledgment = reader.readInteger(as: UInt16.self)
                else { return nil }
                var extensions = 0
                while next != 0 {
                    extensions += 1
                    guard extensions <= UTP.maxExtensions, let following = reader.readByte(), let length = reader.readByte(),
                          Int(length) <= UTP.maxExtensionLength, reader.skip(Int(length)) else { return nil }
                    // Extension 1 (selective ack) is a bitmask of 4n bytes.
                    if next == 1, length == 0 || length % 4 != 0 { return nil }
                    next = following
                }
                if type == .data, reader.isEmpty { return nil }
                if type == .syn || type == .state, !reader.isEmpty { return nil }
                self.type = type
                self.connectionID = connectionID
                sequenceNumber = sequence
                acknowledgmentNumber = acknowledgment
                payloadOffset = reader.offset
            }
        }
    }

    /// Puts one direction of a uTP connection's data packets back in order, by their 16-bit
    /// `seq_nr`, and hands the bytes on as a stream. Packets that arrive ahead of a hole are
    /// copied into a bounded buffer; past its bounds the hole becomes a gap.
    public struct UTPStream: Sendable {
        /// Packets held out of order per direction: uTP windows at connection start are small.
        public static let maxBufferedPackets = 32

        private struct Pending: Sendable {
            var sequence: UInt16
            var bytes: [UInt8]
        }

        private var nextSequence: UInt16 = 0
        private var isSynchronized = false
        private var pending: [Pending] = []
        /// Gaps declared.
        public private(set) var gapCount = 0

        public init() {}

        /// Takes one packet sent in this direction and hands any newly in-order payload on.
        public mutating func receive(_ header: BitTorrent.UTP.Header, payload: UnsafeRawBufferPointer, deliver: (StreamChunk) -> Void) {
            switch header.type {
            case .syn:
                // The initiator's first data packet follows its SYN's sequence number.
                nextSequence = header.sequenceNumber &+ 1
                isSynchronized = true
                pending = []
                return
            case .data:
                break
            case .fin, .state, .reset:
                return
            }
            if !isSynchronized {
                nextSequence = header.sequenceNumber
                isSynchronized = true
            }
            let ahead = Int16(bitPattern: header.sequenceNumber &- nextSequence)
            if ahead < 0 { return }  // a retransmission
            if ahead > 0 {
                guard !pending.contains(where: { $0.sequence == header.sequenceNumber }) else { return }
                pending.append(Pending(sequence: header.sequenceNumber, bytes: Array(payload)))
                if pending.count > Self.maxBufferedPackets {
                    // Skip to the earliest buffered packet.
                    let earliest = pending.min { Int16(bitPattern: $0.sequence &- nextSequence) < Int16(bitPattern: $1.sequence &- nextSequence) }
                    if let earliest {
                        gapCount += 1
                        deliver(.gap(count: Int(earliest.sequence &- nextSequence)))
                        nextSequence = earliest.sequence
                        drain(deliver)
                    }
                }
                return
            }
            nextSequence &+= 1
            deliver(.data(payload))
            drain(deliver)
        }

        private mutating func drain(_ deliver: (StreamChunk) -> Void) {
            while let index = pending.firstIndex(where: { $0.sequence == nextSequence }) {
                let packet = pending.remove(at: index)
                nextSequence &+= 1
                packet.bytes.withUnsafeBytes { deliver(.data($0)) }
            }
        }
    }
}
