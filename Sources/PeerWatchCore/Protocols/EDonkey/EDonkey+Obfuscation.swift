import Crypto

extension EDonkey {
    /// eMule protocol obfuscation between clients (eMule's EncryptedStreamSocket): the
    /// initiator sends a byte that is no protocol marker, a 4-byte random key part in clear, then
    /// RC4: a sync magic, the methods it supports and prefers, padding, and the protocol. Each
    /// direction's key is MD5 of the *receiving* client's user hash, a magic byte (34 for what
    /// the initiator sends, 203 for what it receives) and the random key part; RC4 drops its
    /// first 1,024 bytes. Whoever knows the responder's user hash, which it sends in clear in
    /// every unobfuscated hello, can read the stream.
    enum Obfuscation {
        static let syncMagic: UInt32 = 0x835E_6FC4
        static let requesterMagic: UInt8 = 34
        static let serverMagic: UInt8 = 203
        /// Bytes of the initiator's opening before its padding: marker, key part, magic,
        /// two methods, padding length.
        static let initiatorHead = 1 + 4 + 4 + 2 + 1
        /// The responder's: magic, method, padding length.
        static let responderHead = 4 + 1 + 1

        /// RC4 (ARC4), as eMule keys it: the first 1,024 bytes of keystream dropped.
        struct RC4 {
            private var state: [UInt8]
            private var i: UInt8 = 0
            private var j: UInt8 = 0

            init(key: [UInt8], drop: Int = 1_024) {
                state = (0 ... 255).map { UInt8($0) }
                var j: UInt8 = 0
                for index in 0 ..< 256 {
                    j = j &+ state[index] &+ key[index % key.count]
                    state.swapAt(index, Int(j))
                }
                for _ in 0 ..< drop { _ = next() }
            }

            mutating func next() -> UInt8 {
                i &+= 1
                j &+= state[Int(i)]
                state.swapAt(Int(i), Int(j))
                return state[Int(state[Int(i)] &+ state[Int(j)])]
            }

            /// Decrypts (or encrypts) `bytes` into `out`.
            mutating func apply(_ bytes: UnsafeRawBufferPointer, into out: inout [UInt8]) {
                out.removeAll(keepingCapacity: true)
                out.reserveCapacity(bytes.count)
                for byte in bytes { out.append(byte ^ next()) }
            }
        }

        /// The key of one direction.
        static func key(userHash: [UInt8], magic: UInt8, randomKeyPart: [UInt8]) -> RC4 {
            RC4(key: Array(Insecure.MD5.hash(data: userHash + [magic] + randomKeyPart)))
        }

        /// Whether a stream's first bytes are an obfuscated opening for a client whose user hash
        /// is `userHash`: the two directions' ciphers, and how many bytes of `first` the opening
        /// (with its padding) took, if all of it is there.
        static func open(_ first: UnsafeRawBufferPointer, userHash: [UInt8]) -> (toServer: RC4, toClient: RC4, used: Int)? {
            guard first.count >= initiatorHead, !Frames.isProtocol(first[0]) else { return nil }
            let keyPart = Array(first[1 ..< 5])
            var send = key(userHash: userHash, magic: requesterMagic, randomKeyPart: keyPart)
            var plain: [UInt8] = []
            send.apply(UnsafeRawBufferPointer(rebasing: first[5 ..< initiatorHead]), into: &plain)
            let magic = UInt32(plain[0]) | UInt32(plain[1]) << 8 | UInt32(plain[2]) << 16 | UInt32(plain[3]) << 24
            guard magic == syncMagic else { return nil }
            let padding = Int(plain[6])
            guard first.count >= initiatorHead + padding else { return nil }
            // The padding is encrypted too: the cipher runs over it.
            send.apply(UnsafeRawBufferPointer(rebasing: first[initiatorHead ..< initiatorHead + padding]), into: &plain)
            return (send, key(userHash: userHash, magic: serverMagic, randomKeyPart: keyPart), initiatorHead + padding)
        }
    }

    /// User hashes clients sent in clear, by the address and port they listen on: what reading
    /// an obfuscated stream to them needs, and kept for that alone, as long as the flagged-address
    /// memory holds addresses (65,536, the oldest out first).
    struct UserHashMemory {
        static let capacity = 65_536
        private var hashes: [Endpoint: ContentID] = [:]
        private var order: [Endpoint] = []
        private var oldest = 0

        var count: Int { hashes.count }

        mutating func note(_ hash: ContentID, for endpoint: Endpoint) {
            if hashes.updateValue(hash, forKey: endpoint) != nil { return }
            if order.count < Self.capacity {
                order.append(endpoint)
            } else {
                hashes[order[oldest]] = nil
                order[oldest] = endpoint
                oldest = (oldest + 1) % Self.capacity
            }
        }

        func hash(for endpoint: Endpoint) -> ContentID? { hashes[endpoint] }
    }

    /// One direction of an obfuscated stream: its cipher, and the responder's opening to step
    /// over before the protocol.
    struct Cipher {
        var rc4: Obfuscation.RC4
        /// Responder direction: bytes of its opening still to come (its head, then its padding).
        var headToSkip: Int
        var headSeen: [UInt8] = []
        var plain: [UInt8] = []

        /// Decrypts `bytes`, steps over what remains of the opening, and hands the protocol on.
        mutating func decrypt(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
            var plain = self.plain
            rc4.apply(bytes, into: &plain)
            var start = 0
            while headToSkip > 0, start < plain.count {
                headSeen.append(plain[start])
                start += 1
                headToSkip -= 1
                // The padding length is the head's last byte.
                if headSeen.count == Obfuscation.responderHead { headToSkip += Int(headSeen[Obfuscation.responderHead - 1]) }
            }
            if start < plain.count { plain.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[start...])) } }
            self.plain = plain
        }
    }
}
