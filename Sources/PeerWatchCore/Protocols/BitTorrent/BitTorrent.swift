/// BitTorrent: the peer wire protocol and the family around it (BEP 3 and later BEPs).
public enum BitTorrent {
    /// A 20-byte BitTorrent peer id (BEP 3, BEP 20), held inline.
    public struct PeerID: Sendable, Hashable, CustomStringConvertible {
        private let w0: UInt64, w1: UInt64, w2: UInt32

        /// Builds a peer id from exactly 20 bytes, or returns `nil`.
        public init?(bytes: UnsafeRawBufferPointer) {
            var reader = ByteReader(bytes)
            guard bytes.count == 20, let a = reader.readInteger(as: UInt64.self), let b = reader.readInteger(as: UInt64.self),
                  let c = reader.readInteger(as: UInt32.self) else { return nil }
            w0 = a; w1 = b; w2 = c
        }

        /// The 20 bytes.
        public var bytes: [UInt8] {
            var out = [UInt8]()
            out.reserveCapacity(20)
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: w0 >> UInt64(shift))) }
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: w1 >> UInt64(shift))) }
            for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: w2 >> UInt32(shift))) }
            return out
        }

        /// Lowercase hex of the 20 bytes.
        public var description: String { Hex.encode(bytes) }

        /// The client tag of an Azureus-style peer id (BEP 20): `-TR3000-` from `-TR3000-xxxx...`,
        /// or `nil` when the id does not follow that convention.
        public var azureusClientTag: String? {
            let b = bytes
            guard b[0] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
                  b[1 ... 2].allSatisfy({ (0x41 ... 0x5A).contains($0) || (0x61 ... 0x7A).contains($0) }),
                  b[3 ... 6].allSatisfy({ (0x20 ... 0x7E).contains($0) })
            else { return nil }
            return String(decoding: b[0 ... 7], as: UTF8.self)
        }
    }
}
