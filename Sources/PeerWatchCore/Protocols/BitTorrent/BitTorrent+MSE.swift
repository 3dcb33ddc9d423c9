extension BitTorrent {
    /// Recognises the opening of a Message Stream Encryption (MSE/PE) negotiation: each side
    /// starts with a 96-byte Diffie-Hellman public key followed by 0 to 512 bytes of random
    /// padding, the initiator first. Nothing in it can be read, so it is only counted; a
    /// negotiation that selects plaintext is followed by a readable handshake, which the
    /// handshake scanner finds wherever it starts.
    public enum MSE {
        /// The key (96 bytes) and the longest padding (512 bytes).
        public static let firstMessageLengths = 96 ... 608
        /// Of the first 96 bytes, at least this many distinct values: random bytes give ~80,
        /// text and most binary headers far fewer.
        public static let minDistinctBytes = 60

        /// Whether the first payload of one direction could be an MSE key exchange: the right
        /// length, random-looking, and not the opening of another protocol.
        public static func couldBeKeyExchange(_ payload: UnsafeRawBufferPointer) -> Bool {
            guard firstMessageLengths.contains(payload.count) else { return false }
            if HandshakeScanner.opensAnotherProtocol(payload) { return false }
            let reader = ByteReader(payload)
            if reader.starts(with: Array("SSH-".utf8)) || reader.starts(with: HandshakeScanner.handshakePrefix) { return false }
            var seen: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
            var distinct = 0
            var printable = 0
            withUnsafeMutableBytes(of: &seen) { bits in
                for byte in payload.prefix(96) {
                    let index = Int(byte >> 3), mask = UInt8(1) << (byte & 7)
                    if bits[index] & mask == 0 {
                        bits[index] |= mask
                        distinct += 1
                    }
                    if (0x20 ... 0x7E).contains(byte) { printable += 1 }
                }
            }
            return distinct >= minDistinctBytes && printable < 90
        }
    }
}

extension BitTorrent.HandshakeScanner {
    static let handshakePrefix = BitTorrent.Handshake.prefix
}
