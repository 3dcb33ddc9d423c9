/// Magnet links: `magnet:?xt=urn:btih:...&dn=...`, with every exact topic (`xt`, `xt.1`, ...)
/// turned into content identifiers.
///
/// Topics understood: `urn:btih:` (40 hex or 32 base32), `urn:btmh:1220` + 64 hex (a BitTorrent
/// v2 SHA-256 multihash), `urn:sha1:` (32 base32 or 40 hex), `urn:ed2k:` / `urn:ed2khash:`
/// (32 hex), `urn:tree:tiger:` (39 base32 or 48 hex, also `tree:tiger/:` and `tree:tiger/1024:`),
/// `urn:bitprint:` (SHA-1 and Tiger root joined by a dot) and `urn:md5:` (32 hex).
/// Values may be percent-encoded; `&amp;` separators (a link copied out of HTML) are accepted.
public enum MagnetLink {
    /// Links are a few hundred bytes; a topic value is at most ~100. Longer text is cut here.
    public static let maxLinkLength = 4_096
    /// Topics per link: real links carry one to three; more is a list, not a link.
    public static let maxTopics = 32

    /// Parses one link (starting with `magnet:?`, either case) and calls `found` with each
    /// identifier of its exact topics. Returns how many topics were understood.
    @discardableResult
    public static func parse(_ link: UnsafeRawBufferPointer, found: (ContentID) -> Void) -> Int {
        guard link.count > 8, startsWithMarker(link, at: 0) else { return 0 }
        let query = UnsafeRawBufferPointer(rebasing: link[8 ..< min(link.count, maxLinkLength)])
        var topics = 0
        BitTorrent.HTTPTracker.forEachParameter(query) { name, value in
            var name = name
            if name.count > 4, HTTPText.lowercased(name[0]) == UInt8(ascii: "a"), name[1] == UInt8(ascii: "m"),
               name[2] == UInt8(ascii: "p"), name[3] == UInt8(ascii: ";") {
                name = UnsafeRawBufferPointer(rebasing: name[4...])
            }
            guard isExactTopic(name) else { return true }
            topics += 1
            guard topics <= maxTopics else { return false }
            _ = HTTPText.percentDecoded(value, capacity: 160) { decoded -> Void in URN.parse(decoded, found: found) }
            return true
        }
        return topics
    }

    /// Finds every link in `text` (an HTTP request line, header or body) and calls `found` with
    /// each identifier. Percent-encoded links (`magnet%3A%3F...`, as a query parameter) are
    /// decoded first.
    /// - Parameters:
    ///   - limit: only links starting before this offset are read.
    ///   - holdingUnterminated: when `true`, a link that runs to the end of `text` (more of it may
    ///     follow) is not read; its start is returned instead.
    /// - Returns: the start of a link held back, if any.
    @discardableResult
    public static func scan(
        _ text: UnsafeRawBufferPointer, startingBefore limit: Int = .max, holdingUnterminated: Bool = false,
        found: (ContentID) -> Void
    ) -> Int? {
        var index = 0
        var nextEncoded = encodedMarker(in: text, from: 0)
        while index < text.count {
            if let encoded = nextEncoded, encoded < index { nextEncoded = encodedMarker(in: text, from: index) }
            let plain = plainMarker(in: text, from: index)
            guard let start = [plain, nextEncoded].compactMap({ $0 }).min(), start < limit else { return nil }
            let encoded = start != plain
            let end = linkEnd(text, from: start, encoded: encoded)
            if holdingUnterminated, end == text.count, end - start < maxLinkLength { return start }
            let link = UnsafeRawBufferPointer(rebasing: text[start ..< end])
            if encoded {
                _ = HTTPText.percentDecoded(link, capacity: maxLinkLength) { decoded in parse(decoded, found: found) }
            } else {
                parse(link, found: found)
            }
            index = max(end, start + 1)
        }
        return nil
    }

    /// The next "magnet:?" at or after `index`, found by its colon.
    private static func plainMarker(in text: UnsafeRawBufferPointer, from index: Int) -> Int? {
        var position = index + 6
        while let colon = ByteSearch.firstIndex(of: UInt8(ascii: ":"), in: text, from: position) {
            if startsWithMarker(text, at: colon - 6) { return colon - 6 }
            position = colon + 1
        }
        return nil
    }

    // MARK: - Topics

    /// An identifier from base32 text of exactly the kind's length, or `nil`.
    static func base32ID(_ text: UnsafeRawBufferPointer, kind: ContentID.Kind) -> ContentID? {
        let length = kind.digestLength
        guard text.count == (length * 8 + 4) / 5 else { return nil }
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let ok = withUnsafeMutableBytes(of: &words) { raw -> Bool in
            var buffer: UInt64 = 0
            var bits = 0
            var out = 0
            for digit in text {
                guard let value = Base32.value(of: digit) else { return false }
                buffer = buffer << 5 | UInt64(value)
                bits += 5
                if bits >= 8 {
                    bits -= 8
                    guard out < length else { return false }
                    raw[out] = UInt8(truncatingIfNeeded: buffer >> UInt64(bits))
                    out += 1
                }
            }
            return out == length && buffer & ((1 << UInt64(bits)) - 1) == 0
        }
        guard ok else { return nil }
        return withUnsafeBytes(of: &words) { ContentID(kind: kind, bytes: UnsafeRawBufferPointer(rebasing: $0[0 ..< length])) }
    }

    // MARK: - Finding links in text

    private static func isExactTopic(_ name: UnsafeRawBufferPointer) -> Bool {
        guard name.count >= 2, HTTPText.lowercased(name[0]) == UInt8(ascii: "x"), HTTPText.lowercased(name[1]) == UInt8(ascii: "t") else { return false }
        if name.count == 2 { return true }
        // xt.1, xt.2, ...
        guard name[2] == UInt8(ascii: "."), name.count > 3 else { return false }
        return name[3...].allSatisfy { (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains($0) }
    }

    static func take(_ reader: inout ByteReader, _ text: StaticString) -> Bool {
        let matches = text.withUTF8Buffer { wanted -> Bool in
            guard reader.remaining >= wanted.count, let bytes = reader.peekBytes(count: wanted.count) else { return false }
            for index in 0 ..< wanted.count where HTTPText.lowercased(bytes[index]) != wanted[index] { return false }
            return true
        }
        if matches { reader.skip(text.utf8CodeUnitCount) }
        return matches
    }

    private static func startsWithMarker(_ text: UnsafeRawBufferPointer, at start: Int) -> Bool {
        matchesLowercased(text, at: start, "magnet:?")
    }

    private static func startsWithEncodedMarker(_ text: UnsafeRawBufferPointer, at start: Int) -> Bool {
        matchesLowercased(text, at: start, "magnet%3a%3f")
    }

    private static func matchesLowercased(_ text: UnsafeRawBufferPointer, at start: Int, _ marker: StaticString) -> Bool {
        marker.withUTF8Buffer { wanted in
            guard start >= 0, text.count - start >= wanted.count else { return false }
            for index in 0 ..< wanted.count where HTTPText.lowercased(text[start + index]) != wanted[index] { return false }
            return true
        }
    }

    /// The next "magnet%3A%3F" at or after `index` (for text with no plain colon left).
    private static func encodedMarker(in text: UnsafeRawBufferPointer, from index: Int) -> Int? {
        var position = index
        while let percent = ByteSearch.firstIndex(of: UInt8(ascii: "%"), in: text, from: position) {
            if percent >= 6, startsWithEncodedMarker(text, at: percent - 6) { return percent - 6 }
            position = percent + 1
        }
        return nil
    }

    /// Where a link that starts at `start` ends: at white space, a quote, an angle bracket, or
    /// (for an encoded link, which sits inside a query) an ampersand.
    private static func linkEnd(_ text: UnsafeRawBufferPointer, from start: Int, encoded: Bool) -> Int {
        var index = start
        let limit = min(text.count, start + maxLinkLength)
        while index < limit {
            switch text[index] {
            case 0x00 ... 0x20, UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "<"), UInt8(ascii: ">"), 0x7F:
                return index
            case UInt8(ascii: "&") where encoded:
                return index
            default:
                index += 1
            }
        }
        return index
    }
}
