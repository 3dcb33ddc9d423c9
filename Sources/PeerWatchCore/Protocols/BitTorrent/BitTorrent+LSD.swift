extension BitTorrent {
    /// Local Service Discovery (BEP 14): HTTP-like announcements multicast to
    /// 239.192.152.143:6771 or [ff15::efc0:988f]:6771.
    ///
    /// ```
    /// BT-SEARCH * HTTP/1.1\r\n
    /// Host: 239.192.152.143:6771\r\n
    /// Port: 6881\r\n
    /// Infohash: <40 hex digits>\r\n      (one or more)
    /// cookie: <opaque>\r\n
    /// \r\n
    /// ```
    public enum LSD {
        /// The port LSD announcements go to.
        public static let port: UInt16 = 6771
        /// An announcement carries a few headers; BEP 14 allows several infohashes per message,
        /// and clients batch up to a few dozen. Longer ones are decoded but counted as anomalies.
        public static let maxMessageLength = 4_096
        static let requestLine = Array("BT-SEARCH * HTTP/1.1".utf8)

        /// Whether a datagram is an LSD announcement.
        public static func recognize(_ datagram: UnsafeRawBufferPointer) -> Bool {
            ByteReader(datagram).starts(with: requestLine)
        }

        /// Calls `found` with each `Infohash` header's value, in order. Malformed headers are
        /// skipped; a header whose value is not 40 hex digits is not an infohash.
        public static func decodeInfoHashes(_ datagram: UnsafeRawBufferPointer, found: (ContentID) -> Void) {
            guard recognize(datagram) else { return }
            HTTPText.forEachLine(datagram) { line in
                guard let value = HTTPText.headerValue(line, name: "infohash") else { return true }
                let trimmed = HTTPText.trim(value)
                if trimmed.count == 40, let id = HTTPText.hexID(trimmed, kind: .btih) { found(id) }
                return true
            }
        }
    }
}

/// Small helpers for the HTTP-shaped text BitTorrent uses (LSD, tracker requests): lines,
/// header names compared case-insensitively, hex and percent-decoding, all in place.
public enum HTTPText {
    /// Calls `body` with each line (without its CR LF) until it returns `false` or an empty
    /// line ends the header block.
    public static func forEachLine(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Bool) {
        var start = 0
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x0A {
                var end = index
                if end > start, bytes[end - 1] == 0x0D { end -= 1 }
                let line = UnsafeRawBufferPointer(rebasing: bytes[start ..< end])
                if line.isEmpty, start > 0 { return }
                if !body(line) { return }
                start = index + 1
            }
            index += 1
        }
        if start < bytes.count { _ = body(UnsafeRawBufferPointer(rebasing: bytes[start...])) }
    }

    /// The value of header `name` (lowercase) in `line`, or `nil` if the line is another header.
    public static func headerValue(_ line: UnsafeRawBufferPointer, name: StaticString) -> UnsafeRawBufferPointer? {
        name.withUTF8Buffer { wanted -> UnsafeRawBufferPointer? in
            guard line.count > wanted.count, line[wanted.count] == UInt8(ascii: ":") else { return nil }
            for index in 0 ..< wanted.count where lowercased(line[index]) != wanted[index] { return nil }
            return UnsafeRawBufferPointer(rebasing: line[(wanted.count + 1)...])
        }
    }

    /// Where a header block ends: the index just past the first CR LF CR LF at or after `start`.
    public static func headerBlockEnd(in bytes: UnsafeRawBufferPointer, from start: Int = 0) -> Int? {
        var index = max(0, start)
        while index + 3 < bytes.count {
            if bytes[index] == 0x0D, bytes[index + 1] == 0x0A, bytes[index + 2] == 0x0D, bytes[index + 3] == 0x0A { return index + 4 }
            index += 1
        }
        return nil
    }

    /// `bytes` without leading and trailing spaces and tabs.
    public static func trim(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var start = 0, end = bytes.count
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start += 1 }
        while end > start, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[start ..< end])
    }

    /// Whether `bytes` contain `text` (lowercase), compared case-insensitively.
    public static func contains(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        text.withUTF8Buffer { needle in
            guard needle.count <= bytes.count else { return false }
            for start in 0 ... (bytes.count - needle.count) {
                var match = true
                for index in 0 ..< needle.count where HTTPText.lowercased(bytes[start + index]) != needle[index] {
                    match = false
                    break
                }
                if match { return true }
            }
            return false
        }
    }

    /// ASCII lowercase of one byte.
    public static func lowercased(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A") ... UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
    }

    /// An identifier from hex text of exactly the kind's length, or `nil`.
    public static func hexID(_ text: UnsafeRawBufferPointer, kind: ContentID.Kind) -> ContentID? {
        guard text.count == kind.digestLength * 2 else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let ok = withUnsafeMutableBytes(of: &words) { raw -> Bool in
            for index in 0 ..< kind.digestLength {
                guard let high = Hex.value(of: text[2 * index]), let low = Hex.value(of: text[2 * index + 1]) else { return false }
                raw[index] = high << 4 | low
            }
            return true
        }
        guard ok else { return nil }
        return withUnsafeBytes(of: &words) { ContentID(kind: kind, bytes: UnsafeRawBufferPointer(rebasing: $0[0 ..< kind.digestLength])) }
    }

    /// Percent-decodes `text` (a URL query value) into at most `capacity` bytes of stack
    /// memory, calling `body` with the result; returns `nil` if it is longer or a `%` escape is
    /// malformed. `+` stays `+` (BitTorrent clients escape it, and the info_hash is binary).
    public static func percentDecoded<R>(_ text: UnsafeRawBufferPointer, capacity: Int = 32, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        withUnsafeTemporaryAllocation(byteCount: max(1, capacity), alignment: 8) { raw -> R? in
            var out = 0
            var index = 0
            while index < text.count {
                guard out < capacity else { return nil }
                var byte = text[index]
                if byte == UInt8(ascii: "%") {
                    guard index + 2 < text.count, let high = Hex.value(of: text[index + 1]), let low = Hex.value(of: text[index + 2]) else {
                        return nil
                    }
                    byte = high << 4 | low
                    index += 2
                }
                raw[out] = byte
                out += 1
                index += 1
            }
            return body(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(raw)[0 ..< out]))
        }
    }
}
