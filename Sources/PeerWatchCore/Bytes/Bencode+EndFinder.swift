extension Bencode {
    /// Finds where one bencoded value ends in a stream that arrives in pieces, looking at each
    /// byte once: a .torrent body with no declared length is known to be complete, in linear
    /// time, the moment its last byte arrives. It checks the structure only as far as finding
    /// the end needs (full validation happens once, on the whole value).
    public struct EndFinder: Sendable {
        /// What the bytes so far amount to.
        public enum Progress: Equatable, Sendable {
            /// The value goes on.
            case incomplete
            /// The value ended; `offset` is the index just past it within the last chunk.
            case complete(offset: Int)
            /// The bytes are not one bencoded value.
            case malformed
        }

        private enum State: Sendable {
            /// Expecting a value (or `e` closing a container, when inside one).
            case value
            /// Inside `i…e`.
            case integer
            /// Reading a string's length digits.
            case length(Int, digits: Int)
            /// Inside a string's bytes.
            case string(remaining: Int)
            case done
            case broken
        }

        private var state = State.value
        private var depth = 0

        public init() {}

        /// Looks at the next piece of the stream.
        public mutating func consume(_ bytes: UnsafeRawBufferPointer) -> Progress {
            var index = 0
            while index < bytes.count {
                switch state {
                case .done: return .complete(offset: index)
                case .broken: return .malformed
                case .string(let remaining):
                    let take = min(remaining, bytes.count - index)
                    index += take
                    if take == remaining { endValue() } else { state = .string(remaining: remaining - take) }
                case .integer:
                    let byte = bytes[index]
                    index += 1
                    if byte == UInt8(ascii: "e") {
                        endValue()
                    } else if !(byte == UInt8(ascii: "-") || (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(byte)) {
                        state = .broken
                    }
                case .length(let length, let digits):
                    let byte = bytes[index]
                    index += 1
                    if byte == UInt8(ascii: ":") {
                        if length == 0 { endValue() } else { state = .string(remaining: length) }
                    } else if (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(byte), digits < Bencode.maxIntegerDigits - 1 {
                        state = .length(length &* 10 &+ Int(byte &- UInt8(ascii: "0")), digits: digits + 1)
                    } else {
                        state = .broken
                    }
                case .value:
                    let byte = bytes[index]
                    index += 1
                    switch byte {
                    case UInt8(ascii: "i"): state = .integer
                    case UInt8(ascii: "l"), UInt8(ascii: "d"):
                        depth += 1
                        if depth > Bencode.maxDepth { state = .broken }
                    case UInt8(ascii: "e") where depth > 0:
                        depth -= 1
                        endValue()
                    case UInt8(ascii: "0") ... UInt8(ascii: "9"):
                        state = .length(Int(byte &- UInt8(ascii: "0")), digits: 1)
                    default:
                        state = .broken
                    }
                }
            }
            switch state {
            case .done: return .complete(offset: index)
            case .broken: return .malformed
            default: return .incomplete
            }
        }

        /// A value ended: the whole thing, if it was the outermost one.
        private mutating func endValue() {
            state = depth == 0 ? .done : .value
        }
    }
}
