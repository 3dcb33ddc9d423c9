extension BitTorrent {
    /// Frames the peer wire after the handshake (BEP 3): `<length:4><id:1><payload>`, and hands
    /// on the extension protocol's messages (BEP 10, id 20) whole. Other messages are skipped
    /// without a copy; `piece` payload bytes (id 7) are counted.
    ///
    /// A direction is followed for a bounded number of messages unless told to keep going (a
    /// flow that matched, whose transfer is evidence).
    public struct PeerWireFramer: Sendable {
        /// A `piece` carries a 16 KiB block; a bitfield for 8 million pieces is 1 MiB. Larger is
        /// hostile, and the framer stops.
        public static let maxMessageLength = 1 << 20
        /// Extension messages carry a bencoded dictionary and, for ut_metadata, a 16 KiB piece.
        public static let maxExtendedMessageLength = 64 * 1024
        /// Messages read on a flow that matched nothing: enough for the extension handshake and a
        /// whole metadata exchange (an 8 MiB info dictionary is 512 pieces).
        public static let maxMessagesWhileProbing = 1_024

        /// The extension protocol's message id (BEP 10).
        static let extended: UInt8 = 20
        /// The piece message id (BEP 3).
        static let piece: UInt8 = 7

        private enum State: Sendable {
            case skippingHandshake(Int)
            case header
            case skipping(Int)
            case collecting(Int)
            case finished
        }

        private var state: State
        private var header: (UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0)
        private var headerCount = 0
        private var collected: [UInt8] = []
        private var currentID: UInt8 = 0
        /// Messages read.
        public private(set) var messages = 0
        /// Payload bytes of `piece` messages: content moved in this direction.
        public private(set) var pieceBytes: Int64 = 0
        /// When set, the framer follows the whole flow.
        public var followToEnd = false

        /// A framer that first skips the `handshakeRemainder` handshake bytes not yet seen.
        public init(handshakeRemainder: Int) {
            state = handshakeRemainder > 0 ? .skippingHandshake(handshakeRemainder) : .header
        }

        /// Whether the framer has stopped.
        public var isFinished: Bool {
            if case .finished = state { return true }
            return false
        }

        /// Frames one chunk; `extendedMessage` receives each BEP 10 payload (extended id first).
        public mutating func consume(_ chunk: StreamChunk, extendedMessage: (UnsafeRawBufferPointer) -> Void) {
            guard case .data(let bytes) = chunk else {
                // Framing cannot survive a hole.
                state = .finished
                collected = []
                return
            }
            var index = 0
            while index < bytes.count {
                switch state {
                case .finished:
                    return
                case .skippingHandshake(let remaining), .skipping(let remaining):
                    let take = min(remaining, bytes.count - index)
                    index += take
                    if currentID == Self.piece, case .skipping = state { pieceBytes &+= Int64(take) }
                    if take == remaining {
                        state = .header
                    } else if case .skippingHandshake = state {
                        state = .skippingHandshake(remaining - take)
                    } else {
                        state = .skipping(remaining - take)
                    }
                case .header:
                    withUnsafeMutableBytes(of: &header) { $0[headerCount] = bytes[index] }
                    headerCount += 1
                    index += 1
                    if headerCount == 4, readLength() == 0 {
                        headerCount = 0   // keep-alive
                        continue
                    }
                    guard headerCount == 5 else { continue }
                    headerCount = 0
                    let length = readLength()
                    guard length <= Self.maxMessageLength else { return finish() }
                    currentID = header.4
                    messages += 1
                    let body = length - 1
                    if currentID == Self.extended, body <= Self.maxExtendedMessageLength {
                        collected.removeAll(keepingCapacity: true)
                        state = body > 0 ? .collecting(body) : .header
                    } else {
                        state = body > 0 ? .skipping(body) : .header
                    }
                    if !followToEnd, messages > Self.maxMessagesWhileProbing { return finish() }
                case .collecting(let remaining):
                    let take = min(remaining, bytes.count - index)
                    collected.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[index ..< index + take]))
                    index += take
                    if take == remaining {
                        state = .header
                        collected.withUnsafeBytes { extendedMessage($0) }
                        collected.removeAll(keepingCapacity: true)
                    } else {
                        state = .collecting(remaining - take)
                    }
                }
            }
        }

        private func readLength() -> Int {
            Int(header.0) << 24 | Int(header.1) << 16 | Int(header.2) << 8 | Int(header.3)
        }

        private mutating func finish() {
            state = .finished
            collected = []
        }
    }
}
