/// Bencoding (BEP 3), decoded in place: strings come back as borrowed sub-readers, so an
/// infohash travels from the packet to a `ContentID` with no array in between.
///
/// Strict where strictness costs nothing (no leading zeros in lengths or integers, no `-0`,
/// dictionary keys are strings) and bounded everywhere: nesting depth and element counts are
/// capped, and every declared length is checked against what is there before it is used.
public enum Bencode {
    /// Real messages nest a few levels (a .torrent's file list: 4); far deeper is hostile.
    public static let maxDepth = 32
    /// The most elements one list or dictionary may hold; a .torrent's file list of a large
    /// collection has some thousands, and KRPC messages a handful.
    public static let maxElements = 100_000
    /// Integers longer than this do not fit an Int64 anyway.
    static let maxIntegerDigits = 19

    /// Skips one complete value at the reader's position, validating it.
    /// - Parameter depth: how many more levels of nesting are allowed.
    public static func skipValue(_ reader: inout ByteReader, depth: Int = maxDepth) throws(WireError) {
        guard let first = reader.peekByte() else { throw .truncated }
        switch first {
        case UInt8(ascii: "i"):
            _ = try readInteger(&reader)
        case UInt8(ascii: "0") ... UInt8(ascii: "9"):
            _ = try readString(&reader)
        case UInt8(ascii: "l"), UInt8(ascii: "d"):
            guard depth > 0 else { throw .nestingTooDeep(limit: maxDepth) }
            var r = reader
            r.skip(1)
            var count = 0
            let isDictionary = first == UInt8(ascii: "d")
            while true {
                guard let next = r.peekByte() else { throw .truncated }
                if next == UInt8(ascii: "e") {
                    r.skip(1)
                    break
                }
                count += 1
                guard count <= maxElements else { throw .lengthOutOfRange(declared: count, limit: maxElements) }
                if isDictionary {
                    _ = try readString(&r)
                }
                try skipValue(&r, depth: depth - 1)
            }
            reader = r
        default:
            throw .malformed
        }
    }

    /// Reads a byte string (`<length>:<bytes>`) and returns its bytes, borrowed.
    public static func readString(_ reader: inout ByteReader) throws(WireError) -> UnsafeRawBufferPointer {
        var r = reader
        var length = 0
        var digits = 0
        while true {
            guard let byte = r.readByte() else { throw .truncated }
            if byte == UInt8(ascii: ":") { break }
            guard (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(byte) else { throw .malformed }
            // No leading zeros ("0:" is the empty string), and no length past what can exist.
            if digits == 1, length == 0 { throw .malformed }
            digits += 1
            guard digits <= 10 else { throw .lengthOutOfRange(declared: Int.max, limit: r.remaining) }
            length = length * 10 + Int(byte - UInt8(ascii: "0"))
        }
        guard digits > 0 else { throw .malformed }
        guard length <= r.remaining else {
            throw length > r.remaining + (1 << 24) ? .lengthOutOfRange(declared: length, limit: r.remaining) : .truncated
        }
        guard let bytes = r.readBytes(count: length) else { throw .truncated }
        reader = r
        return bytes
    }

    /// Reads an integer (`i<digits>e`).
    public static func readInteger(_ reader: inout ByteReader) throws(WireError) -> Int64 {
        var r = reader
        guard r.readByte() == UInt8(ascii: "i") else { throw .malformed }
        var negative = false
        if r.peekByte() == UInt8(ascii: "-") {
            negative = true
            r.skip(1)
        }
        var magnitude: UInt64 = 0  // at most 19 digits: below 10^19, it cannot overflow
        var digits = 0
        var leadingZero = false
        while true {
            guard let byte = r.readByte() else { throw .truncated }
            if byte == UInt8(ascii: "e") { break }
            guard (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(byte), !leadingZero else { throw .malformed }
            if digits == 0, byte == UInt8(ascii: "0") { leadingZero = true }
            digits += 1
            guard digits <= maxIntegerDigits else { throw .lengthOutOfRange(declared: digits, limit: maxIntegerDigits) }
            magnitude = magnitude * 10 + UInt64(byte - UInt8(ascii: "0"))
        }
        guard digits > 0, !(negative && (leadingZero || magnitude == 0)) else { throw .malformed }
        // Values outside Int64 are refused, not wrapped: -2^63 is the only magnitude that
        // exists negated but not as itself.
        let value: Int64
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { throw .malformed }
            value = magnitude == UInt64(Int64.max) + 1 ? .min : -Int64(magnitude)
        } else {
            guard magnitude <= UInt64(Int64.max) else { throw .malformed }
            value = Int64(magnitude)
        }
        reader = r
        return value
    }

    /// Validates the container (`d...e` or `l...e`) at the reader's position and returns its
    /// encoded bytes as a reader, advancing past it.
    static func readContainer(_ opening: UInt8, _ reader: inout ByteReader, depth: Int) throws(WireError) -> ByteReader {
        guard reader.peekByte() == opening else { throw .malformed }
        let start = reader
        try skipValue(&reader, depth: depth)
        var whole = start
        guard let encoded = whole.readReader(count: reader.offset - start.offset) else { throw .truncated }
        return encoded
    }

    /// A validated dictionary, read in place. Lookups scan its entries (KRPC and extension
    /// dictionaries hold a handful), so nothing is allocated.
    public struct Dictionary {
        /// The whole encoded dictionary, `d` to `e`.
        public let encoded: ByteReader

        /// Validates and reads the dictionary at the reader's position.
        public init(_ reader: inout ByteReader, depth: Int = Bencode.maxDepth) throws(WireError) {
            encoded = try Bencode.readContainer(UInt8(ascii: "d"), &reader, depth: depth)
        }

        /// Calls `body` with each key and the reader positioned at its value, in order, until
        /// `body` returns `false`.
        public func forEach(_ body: (UnsafeRawBufferPointer, ByteReader) -> Bool) {
            var r = encoded
            r.skip(1)
            while let next = r.peekByte(), next != UInt8(ascii: "e") {
                // Already validated, so these cannot fail; stop quietly if they somehow do.
                guard let key = try? Bencode.readString(&r) else { return }
                let value = r
                guard (try? Bencode.skipValue(&r)) != nil else { return }
                if !body(key, value) { return }
            }
        }

        /// The reader positioned at the value of `key`, or `nil`.
        public func value(_ key: StaticString) -> ByteReader? {
            var found: ByteReader?
            key.withUTF8Buffer { wanted in
                forEach { candidate, value in
                    if candidate.count == wanted.count, candidate.elementsEqual(wanted) {
                        found = value
                        return false
                    }
                    return true
                }
            }
            return found
        }

        /// The byte string stored under `key`, or `nil` if absent or not a string.
        public func string(_ key: StaticString) -> UnsafeRawBufferPointer? {
            guard var value = value(key) else { return nil }
            return try? Bencode.readString(&value)
        }

        /// The integer stored under `key`, or `nil` if absent or not an integer.
        public func integer(_ key: StaticString) -> Int64? {
            guard var value = value(key), value.peekByte() == UInt8(ascii: "i") else { return nil }
            return try? Bencode.readInteger(&value)
        }

        /// The dictionary stored under `key`, or `nil` if absent or not a dictionary.
        public func dictionary(_ key: StaticString) -> Dictionary? {
            guard var value = value(key), value.peekByte() == UInt8(ascii: "d") else { return nil }
            return try? Dictionary(&value)
        }

        /// The list stored under `key` as a reader over its encoded form, or `nil`.
        public func list(_ key: StaticString) -> List? {
            guard var value = value(key), value.peekByte() == UInt8(ascii: "l") else { return nil }
            return try? List(&value)
        }
    }

    /// A validated list, read in place.
    public struct List {
        /// The whole encoded list, `l` to `e`.
        public let encoded: ByteReader

        /// Validates and reads the list at the reader's position.
        public init(_ reader: inout ByteReader, depth: Int = Bencode.maxDepth) throws(WireError) {
            encoded = try Bencode.readContainer(UInt8(ascii: "l"), &reader, depth: depth)
        }

        /// Calls `body` with a reader at each element, until it returns `false`.
        public func forEach(_ body: (ByteReader) -> Bool) {
            var r = encoded
            r.skip(1)
            while let next = r.peekByte(), next != UInt8(ascii: "e") {
                let element = r
                guard (try? Bencode.skipValue(&r)) != nil else { return }
                if !body(element) { return }
            }
        }
    }
}

@available(*, unavailable)
extension Bencode.Dictionary: Sendable {}
@available(*, unavailable)
extension Bencode.List: Sendable {}
