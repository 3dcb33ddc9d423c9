import PeerWatchCore

/// A JSON reader that accepts exactly one well-formed value and refuses what lenient readers
/// let through: a key twice in one object (readers disagree on which copy wins, so a forged
/// second copy could hide behind a verified first), bytes after the value, control characters
/// in strings, bad escapes, invalid UTF-8 and nesting deeper than `maxDepth`.
///
/// Used where a record's bytes are evidence: `verify`, and the alert log's tail at start.
enum StrictJSON {
    /// A parsed value. Objects keep their keys in the order written; numbers keep their text.
    indirect enum Value: Equatable {
        case object([(key: String, value: Value)])
        case array([Value])
        case string(String)
        case number(String)
        case bool(Bool)
        case null

        static func == (lhs: Value, rhs: Value) -> Bool {
            switch (lhs, rhs) {
            case (.object(let a), .object(let b)): a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
            case (.array(let a), .array(let b)): a == b
            case (.string(let a), .string(let b)): a == b
            case (.number(let a), .number(let b)): a == b
            case (.bool(let a), .bool(let b)): a == b
            case (.null, .null): true
            default: false
            }
        }

        /// The member `key` of an object.
        subscript(key: String) -> Value? {
            guard case .object(let members) = self else { return nil }
            return members.first { $0.key == key }?.value
        }

        /// An object's keys, in order.
        var keys: [String] {
            guard case .object(let members) = self else { return [] }
            return members.map(\.key)
        }

        var string: String? {
            if case .string(let text) = self { return text }
            return nil
        }

        /// A non-negative integer written without fraction or exponent.
        var unsigned: UInt64? {
            if case .number(let text) = self { return UInt64(text) }
            return nil
        }

        var bool: Bool? {
            if case .bool(let value) = self { return value }
            return nil
        }

        var isNull: Bool {
            if case .null = self { return true }
            return false
        }
    }

    /// Why a text is refused, with the byte offset where it was noticed.
    struct Failure: Error, Equatable, CustomStringConvertible {
        var offset: Int
        var reason: String
        var description: String { "\(reason) at byte \(offset + 1)" }
    }

    /// Records are a few KiB and a few levels deep; deeper is not a PeerWatch record.
    static let maxDepth = 16

    /// Parses `bytes` as exactly one JSON value.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> Value {
        var parser = Parser(bytes: bytes)
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.offset == bytes.count else { throw Failure(offset: parser.offset, reason: "bytes after the record") }
        return value
    }

    static func parse(_ bytes: [UInt8]) throws(Failure) -> Value {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(Failure) in try parse(raw) } }
        return try result.get()
    }

    private struct Parser {
        let bytes: UnsafeRawBufferPointer
        var offset = 0

        init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

        func fail(_ reason: String) -> Failure { Failure(offset: offset, reason: reason) }

        var current: UInt8? { offset < bytes.count ? bytes[offset] : nil }

        mutating func skipSpace() {
            while let byte = current, byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D { offset += 1 }
        }

        mutating func expect(_ literal: StaticString) throws(Failure) {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - offset >= count else { throw fail("truncated literal") }
            for index in 0 ..< count where bytes[offset + index] != literal.utf8Start[index] { throw fail("unexpected character") }
            offset += count
        }

        mutating func value(depth: Int) throws(Failure) -> Value {
            guard depth < StrictJSON.maxDepth else { throw fail("nested deeper than \(StrictJSON.maxDepth)") }
            guard let byte = current else { throw fail("truncated value") }
            switch byte {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"):
                try expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try expect("null")
                return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"): return .number(try number())
            default: throw fail("unexpected character")
            }
        }

        mutating func object(depth: Int) throws(Failure) -> Value {
            offset += 1
            var members: [(key: String, value: Value)] = []
            var seen = Set<String>()
            skipSpace()
            if current == UInt8(ascii: "}") {
                offset += 1
                return .object(members)
            }
            while true {
                skipSpace()
                guard current == UInt8(ascii: "\"") else { throw fail("expected a key") }
                let keyOffset = offset
                let key = try string()
                guard seen.insert(key).inserted else { throw Failure(offset: keyOffset, reason: "key \"\(key)\" appears twice in one object") }
                skipSpace()
                guard current == UInt8(ascii: ":") else { throw fail("expected ':'") }
                offset += 1
                skipSpace()
                members.append((key, try value(depth: depth + 1)))
                skipSpace()
                switch current {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "}"):
                    offset += 1
                    return .object(members)
                default: throw fail("expected ',' or '}'")
                }
            }
        }

        mutating func array(depth: Int) throws(Failure) -> Value {
            offset += 1
            var elements: [Value] = []
            skipSpace()
            if current == UInt8(ascii: "]") {
                offset += 1
                return .array(elements)
            }
            while true {
                skipSpace()
                elements.append(try value(depth: depth + 1))
                skipSpace()
                switch current {
                case UInt8(ascii: ","): offset += 1
                case UInt8(ascii: "]"):
                    offset += 1
                    return .array(elements)
                default: throw fail("expected ',' or ']'")
                }
            }
        }

        mutating func number() throws(Failure) -> String {
            let start = offset
            if current == UInt8(ascii: "-") { offset += 1 }
            guard let first = current, (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(first) else { throw fail("bad number") }
            offset += 1
            if first != UInt8(ascii: "0") { digits() }
            if current == UInt8(ascii: ".") {
                offset += 1
                guard digits() > 0 else { throw fail("bad number") }
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                offset += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { offset += 1 }
                guard digits() > 0 else { throw fail("bad number") }
            }
            return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start ..< offset]), as: UTF8.self)
        }

        @discardableResult
        mutating func digits() -> Int {
            var count = 0
            while let byte = current, (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(byte) {
                offset += 1
                count += 1
            }
            return count
        }

        mutating func string() throws(Failure) -> String {
            offset += 1
            var text: [UInt8] = []
            while true {
                guard let byte = current else { throw fail("unterminated string") }
                offset += 1
                switch byte {
                case UInt8(ascii: "\""):
                    guard let valid = String(validating: text, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
                    return valid
                case UInt8(ascii: "\\"):
                    guard let escape = current else { throw fail("unterminated string") }
                    offset += 1
                    switch escape {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(escape)
                    case UInt8(ascii: "b"): text.append(0x08)
                    case UInt8(ascii: "f"): text.append(0x0C)
                    case UInt8(ascii: "n"): text.append(0x0A)
                    case UInt8(ascii: "r"): text.append(0x0D)
                    case UInt8(ascii: "t"): text.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try hex4()
                        if (0xD800 ..< 0xDC00).contains(scalar) {
                            try expect("\\u")
                            let low = try hex4()
                            guard (0xDC00 ..< 0xE000).contains(low) else { throw fail("unpaired surrogate") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00 ..< 0xE000).contains(scalar) {
                            throw fail("unpaired surrogate")
                        }
                        guard let value = Unicode.Scalar(scalar) else { throw fail("bad escape") }
                        text.append(contentsOf: String(Character(value)).utf8)
                    default: throw fail("bad escape")
                    }
                case 0x00 ..< 0x20:
                    throw fail("control character in a string")
                default:
                    text.append(byte)
                }
            }
        }

        mutating func hex4() throws(Failure) -> UInt32 {
            guard bytes.count - offset >= 4 else { throw fail("truncated escape") }
            var value: UInt32 = 0
            for _ in 0 ..< 4 {
                guard let digit = Hex.value(of: bytes[offset]) else { throw fail("bad escape") }
                value = value << 4 | UInt32(digit)
                offset += 1
            }
            return value
        }
    }
}
