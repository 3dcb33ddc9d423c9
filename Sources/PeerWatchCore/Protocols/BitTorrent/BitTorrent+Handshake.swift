extension BitTorrent {
    /// BEP 3, peer wire handshake:
    ///
    /// ```
    /// +--------+---------------------+----------+-----------+---------+
    /// | pstrlen| pstr                | reserved | info_hash | peer_id |
    /// | 1: 19  | 19: "BitTorrent     | 8        | 20        | 20      |
    /// |        |      protocol"      |          |           |         |
    /// +--------+---------------------+----------+-----------+---------+
    /// ```
    public struct Handshake: Sendable, Hashable {
        /// The 20-byte prefix every handshake starts with: length byte 19 and the protocol name.
        public static let prefix: [UInt8] = [19] + Array("BitTorrent protocol".utf8)
        /// Prefix, reserved bytes and infohash: what must be seen before the infohash is known.
        public static let lengthThroughInfoHash = 48
        /// The whole handshake.
        public static let length = 68

        /// The reserved (extension) bits.
        public var reserved: UInt64
        /// The torrent's infohash (a v1 SHA-1, or a v2 SHA-256 truncated to 20 bytes).
        public var infoHash: ContentID
        /// The sender's peer id, when it was captured together with the infohash.
        public var peerID: PeerID?

        /// Whether the sender supports the extension protocol (BEP 10: reserved bit 20 from the right).
        public var supportsExtensionProtocol: Bool { reserved & 0x0000_0000_0010_0000 != 0 }

        /// Decodes a handshake that starts at the reader's position; needs at least 48 bytes.
        /// Returns `nil` when the bytes are not a handshake or are too few.
        public static func decode(_ reader: inout ByteReader) -> Handshake? {
            var r = reader
            guard r.starts(with: prefix), r.skip(prefix.count),
                  let reserved = r.readInteger(as: UInt64.self),
                  let hashBytes = r.readBytes(count: 20),
                  let infoHash = ContentID(kind: .btih, bytes: hashBytes)
            else { return nil }
            let peerID = r.peekBytes(count: 20).flatMap { PeerID(bytes: $0) }
            if peerID != nil { r.skip(20) }
            reader = r
            return Handshake(reserved: reserved, infoHash: infoHash, peerID: peerID)
        }
    }

    /// Finds a peer wire handshake in one direction of a byte stream, wherever in the first
    /// `maxScanBytes` it starts: at offset 0 for ordinary connections, later when an MSE
    /// negotiation selected plaintext or the capture picked the stream up mid-way.
    ///
    /// It is fed the stream in chunks of any size and keeps only what a split handshake needs
    /// (48 bytes inline). It looks for the exact 20-byte prefix; a wrong length byte or a
    /// different protocol name is not a handshake.
    public struct HandshakeScanner: Sendable {
        /// MSE's plaintext handshake follows at most ~1.2 KiB of key exchange and padding; a
        /// stream picked up mid-way is searched a little further. Beyond this, stop looking.
        public static let maxScanBytes = 8 * 1024

        private enum State: Sendable {
            case searching(matched: Int)
            case collecting(count: Int)
            case finished
        }

        private var state = State.searching(matched: 0)
        private var scanned = 0
        // Reserved, infohash and peer id, collected when a handshake is split across chunks.
        private var collected: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0)

        public init() {}

        /// Whether the scanner has found a handshake or given up; it then ignores its input.
        public var isFinished: Bool {
            if case .finished = state { return true }
            return false
        }

        /// Stops scanning (the flow no longer needs it).
        public mutating func finish() { state = .finished }

        /// Scans one chunk of the stream.
        /// - Parameter found: called with the handshake once its infohash is complete, at most
        ///   once, with the bytes of the chunk that follow what the scanner consumed and how many
        ///   handshake bytes (the peer id) are still to come before the peer wire messages.
        public mutating func consume(_ chunk: StreamChunk, found: (Handshake, UnsafeRawBufferPointer, Int) -> Void) {
            switch chunk {
            case .gap(let count):
                // A handshake split by a hole cannot be trusted; start over past it.
                if case .finished = state { return }
                scanned &+= count
                state = scanned >= Self.maxScanBytes ? .finished : .searching(matched: 0)
            case .data(let bytes):
                scan(bytes, found: found)
            }
        }

        private mutating func scan(_ bytes: UnsafeRawBufferPointer, found: (Handshake, UnsafeRawBufferPointer, Int) -> Void) {
            if scanned == 0, case .searching(matched: 0) = state, Self.opensAnotherProtocol(bytes) {
                state = .finished
                return
            }
            let prefix = Handshake.prefix
            var index = 0
            while index < bytes.count {
                switch state {
                case .finished:
                    return
                case .searching(var matched):
                    if matched == 0 {
                        // Jump to the next 19, the prefix's first byte, eight bytes at a time.
                        let budgetLeft = Self.maxScanBytes &- scanned
                        let window = UnsafeRawBufferPointer(rebasing: bytes[index ..< min(bytes.count, index &+ max(0, budgetLeft))])
                        guard let hit = ByteSearch.firstIndex(of: prefix[0], in: window) else {
                            scanned &+= window.count
                            index &+= window.count
                            if scanned >= Self.maxScanBytes { state = .finished }
                            continue
                        }
                        scanned &+= hit
                        index &+= hit
                        if let complete = tryWholeHandshake(bytes, at: index) {
                            state = .finished
                            let consumed = min(Handshake.length, bytes.count - index)
                            found(complete, UnsafeRawBufferPointer(rebasing: bytes[(index + consumed)...]), Handshake.length - consumed)
                            return
                        }
                    }
                    // The prefix's first byte (19) occurs nowhere else in it, so a mismatch can
                    // only restart the match at the current byte.
                    while index < bytes.count, matched < prefix.count {
                        let byte = bytes[index]
                        if byte == prefix[matched] {
                            matched += 1
                        } else {
                            matched = byte == prefix[0] ? 1 : 0
                            if matched == 0 {
                                index += 1
                                scanned &+= 1
                                break
                            }
                        }
                        index += 1
                        scanned &+= 1
                    }
                    state = matched == prefix.count ? .collecting(count: 0) : .searching(matched: matched)
                case .collecting(let count):
                    let take = min(Handshake.length - prefix.count - count, bytes.count - index)
                    withUnsafeMutableBytes(of: &collected) { raw in
                        for offset in 0 ..< take { raw[count + offset] = bytes[index + offset] }
                    }
                    index += take
                    scanned &+= take
                    let total = count + take
                    let needed = Handshake.lengthThroughInfoHash - prefix.count
                    if total >= needed {
                        state = .finished
                        let stillToCome = Handshake.length - prefix.count - total
                        found(assembled(peerIDComplete: stillToCome == 0), UnsafeRawBufferPointer(rebasing: bytes[index...]), stillToCome)
                        return
                    }
                    state = .collecting(count: total)
                }
            }
        }

        /// Whether a stream's first bytes are a TLS record header or an HTTP request or status
        /// line: such a direction never carries a plaintext peer wire handshake, so most web
        /// traffic costs no scan at all. An MSE key exchange (random bytes) looks like this with
        /// a probability below one in a million.
        static func opensAnotherProtocol(_ bytes: UnsafeRawBufferPointer) -> Bool {
            guard bytes.count >= 5 else { return false }
            let first = bytes[0], second = bytes[1], third = bytes[2]
            if (0x14 ... 0x18).contains(first), second == 0x03, third <= 0x04 { return true }
            let reader = ByteReader(bytes)
            return Self.httpTokens.contains { reader.starts(with: $0) }
        }

        private static let httpTokens: [[UInt8]] = ["GET ", "POST ", "HEAD ", "PUT ", "OPTIONS ", "HTTP/1.", "CONNECT "].map { Array($0.utf8) }

        /// The common case: a whole handshake inside one chunk, decoded straight from it.
        private mutating func tryWholeHandshake(_ bytes: UnsafeRawBufferPointer, at index: Int) -> Handshake? {
            guard bytes.count - index >= Handshake.lengthThroughInfoHash, bytes[index] == Handshake.prefix[0] else { return nil }
            var reader = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[index...]))
            return Handshake.decode(&reader)
        }

        private func assembled(peerIDComplete: Bool) -> Handshake {
            var copy = collected
            return withUnsafeBytes(of: &copy) { raw in
                var reader = ByteReader(raw)
                // Every read is within the 48-byte tuple, so none of these can fail.
                let reserved = reader.readInteger(as: UInt64.self) ?? 0
                let hash = ContentID(
                    kind: .btih, words: (reader.readInteger() ?? 0, reader.readInteger() ?? 0, UInt64(reader.readInteger(as: UInt32.self) ?? 0) << 32, 0))
                let peer = peerIDComplete ? reader.readBytes(count: 20).flatMap { PeerID(bytes: $0) } : nil
                return Handshake(reserved: reserved, infoHash: hash, peerID: peer)
            }
        }
    }
}

