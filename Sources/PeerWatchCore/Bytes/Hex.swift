/// Lowercase hexadecimal text for digests, and its parser; no Foundation.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The lowercase hex form of `bytes`.
    public static func encode<C: Collection<UInt8>>(_ bytes: C) -> String {
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The value of one hex digit (either case), or `nil`.
    public static func value(of digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0") ... UInt8(ascii: "9"): digit &- UInt8(ascii: "0")
        case UInt8(ascii: "a") ... UInt8(ascii: "f"): digit &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A") ... UInt8(ascii: "F"): digit &- UInt8(ascii: "A") &+ 10
        default: nil
        }
    }

    /// Digit values by byte (0xFF: not a hex digit).
    private static let table: [UInt8] = (0 ... 255).map { value(of: UInt8($0)) ?? 0xFF }

    /// Decodes `text` (two digits a byte, either case) into `out`, which must be exactly half
    /// its length. Returns `false`, leaving `out` partly written, on a non-digit. One call per
    /// digest, table-driven: watch lists of millions of lines go through here.
    public static func decode(_ text: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Bool {
        guard text.count == out.count * 2 else { return false }
        return table.withUnsafeBufferPointer { digits in
            var index = 0
            while index < out.count {
                let high = digits[Int(text[2 &* index])], low = digits[Int(text[2 &* index &+ 1])]
                guard high | low != 0xFF, high < 16, low < 16 else { return false }
                out[index] = high << 4 | low
                index &+= 1
            }
            return true
        }
    }

    /// The bytes spelled by `text` (either case), or `nil` if it is not an even run of hex digits.
    public static func decode<S: StringProtocol>(_ text: S) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        var bytes = [UInt8]()
        bytes.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = value(of: utf8[index]), let low = value(of: utf8[index + 1]) else {
                return nil
            }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}
