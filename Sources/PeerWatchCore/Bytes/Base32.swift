/// RFC 4648 base32 (the alphabet `urn:sha1:` and `urn:tree:tiger:` use), without padding.
public enum Base32 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// The value of one base32 digit (either case), or `nil`.
    public static func value(of digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "A") ... UInt8(ascii: "Z"): digit &- UInt8(ascii: "A")
        case UInt8(ascii: "a") ... UInt8(ascii: "z"): digit &- UInt8(ascii: "a")
        case UInt8(ascii: "2") ... UInt8(ascii: "7"): digit &- UInt8(ascii: "2") &+ 26
        default: nil
        }
    }

    /// Decodes unpadded base32 text into exactly `byteCount` bytes, or returns `nil`.
    public static func decode<S: StringProtocol>(_ text: S, byteCount: Int) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count == (byteCount * 8 + 4) / 5 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(byteCount)
        var buffer: UInt32 = 0
        var bits = 0
        for digit in utf8 {
            guard let value = value(of: digit) else { return nil }
            buffer = (buffer << 5) | UInt32(value)
            bits += 5
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        // Leftover bits must be zero padding.
        guard bytes.count == byteCount, buffer & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return bytes
    }

    /// The uppercase base32 form of `bytes`, unpadded.
    public static func encode<C: Collection<UInt8>>(_ bytes: C) -> String {
        var text = [UInt8]()
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                text.append(alphabet[Int((buffer >> UInt32(bits)) & 0x1F)])
            }
        }
        if bits > 0 {
            text.append(alphabet[Int((buffer << UInt32(5 - bits)) & 0x1F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
