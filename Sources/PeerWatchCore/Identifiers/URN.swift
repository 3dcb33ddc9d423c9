/// Uniform resource names for content (RFC 2169 and the HUGE convention Gnutella, G2, Direct
/// Connect and magnet links share): `urn:sha1:`, `urn:bitprint:`, `urn:tree:tiger:`,
/// `urn:ed2k:`/`urn:ed2khash:`, `urn:md5:`, `urn:btih:`, `urn:btmh:`.
public enum URN {
    /// Parses one URN (`urn:sha1:...`, either case) and calls `found` with its identifiers (a
    /// bitprint names two). Anything else, or a digest of the wrong length, yields nothing.
    public static func parse(_ value: UnsafeRawBufferPointer, found: (ContentID) -> Void) {
        var reader = ByteReader(value)
        guard MagnetLink.take(&reader, "urn:") else { return }
        if MagnetLink.take(&reader, "btih:") {
            let digest = reader.remainingBytes
            if let id = HTTPText.hexID(digest, kind: .btih) ?? MagnetLink.base32ID(digest, kind: .btih) { found(id) }
        } else if MagnetLink.take(&reader, "btmh:") {
            // Multihash: 0x12 (SHA2-256), 0x20 (32 bytes), then the digest.
            guard MagnetLink.take(&reader, "1220"), let id = HTTPText.hexID(reader.remainingBytes, kind: .btihV2) else { return }
            found(id)
        } else if MagnetLink.take(&reader, "sha1:") {
            let digest = reader.remainingBytes
            if let id = MagnetLink.base32ID(digest, kind: .sha1) ?? HTTPText.hexID(digest, kind: .sha1) { found(id) }
        } else if MagnetLink.take(&reader, "ed2khash:") || MagnetLink.take(&reader, "ed2k:") {
            if let id = HTTPText.hexID(reader.remainingBytes, kind: .ed2k) { found(id) }
        } else if MagnetLink.take(&reader, "tree:tiger") {
            // "tree:tiger:", "tree:tiger/:", "tree:tiger/1024:"
            while let byte = reader.peekByte(), byte != UInt8(ascii: ":") { reader.skip(1) }
            guard reader.skip(1) else { return }
            let digest = reader.remainingBytes
            if let id = MagnetLink.base32ID(digest, kind: .tth) ?? HTTPText.hexID(digest, kind: .tth) { found(id) }
        } else if MagnetLink.take(&reader, "bitprint:") {
            let digest = reader.remainingBytes
            guard digest.count == 72, digest[32] == UInt8(ascii: ".") else { return }
            if let sha1 = MagnetLink.base32ID(UnsafeRawBufferPointer(rebasing: digest[0 ..< 32]), kind: .sha1) { found(sha1) }
            if let tiger = MagnetLink.base32ID(UnsafeRawBufferPointer(rebasing: digest[33...]), kind: .tth) { found(tiger) }
        } else if MagnetLink.take(&reader, "md5:") {
            if let id = HTTPText.hexID(reader.remainingBytes, kind: .md5) { found(id) }
        }
    }

    /// Finds each URN in `text` (a header value, a request target, a Gnutella extension) and
    /// calls `found` with its identifiers. A URN runs from `urn:` (either case) to the first byte
    /// that cannot be in one: anything but letters, digits, `:`, `.`, `/` and `-`.
    public static func scan(_ text: UnsafeRawBufferPointer, found: (ContentID) -> Void) {
        var index = 0
        while index + 4 <= text.count {
            guard HTTPText.lowercased(text[index]) == UInt8(ascii: "u"), HTTPText.lowercased(text[index + 1]) == UInt8(ascii: "r"),
                  HTTPText.lowercased(text[index + 2]) == UInt8(ascii: "n"), text[index + 3] == UInt8(ascii: ":"),
                  index == 0 || !isURNByte(text[index - 1]) else {
                index += 1
                continue
            }
            var end = index + 4
            while end < text.count, isURNByte(text[end]) { end += 1 }
            parse(UnsafeRawBufferPointer(rebasing: text[index ..< end]), found: found)
            index = end
        }
    }

    /// Whether a byte can be part of a URN as peers write them.
    static func isURNByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a") ... UInt8(ascii: "z"), UInt8(ascii: "A") ... UInt8(ascii: "Z"), UInt8(ascii: "0") ... UInt8(ascii: "9"),
             UInt8(ascii: ":"), UInt8(ascii: "."), UInt8(ascii: "/"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }
}
