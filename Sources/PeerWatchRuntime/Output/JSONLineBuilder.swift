import PeerWatchCore

/// Writes one JSON object into a reused byte buffer, fields in the order they are written.
///
/// A fixed order is what makes the alert chain work: the same record always has the same bytes.
struct JSONLineBuilder: Sendable, FieldWriter {
    private(set) var bytes: [UInt8] = []
    private var needsComma = false

    init() { bytes.reserveCapacity(1024) }

    mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        needsComma = false
    }

    mutating func beginObject() {
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func beginArray(_ key: String) {
        self.key(key)
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    /// An array of integers.
    mutating func field<T: BinaryInteger>(_ key: String, integers: [T]) {
        beginArray(key)
        for (index, value) in integers.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            appendRaw(String(value))
        }
        endArray()
    }

    mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// Starts an object-valued field.
    mutating func beginObject(_ key: String) {
        self.key(key)
        beginObject()
    }

    /// Starts an unnamed element of an array.
    mutating func beginElement() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        beginObject()
    }

    mutating func field(_ key: String, _ value: String) {
        self.key(key)
        appendString(value)
        needsComma = true
    }

    mutating func field(_ key: String, _ value: String?) {
        guard let value else { return null(key) }
        field(key, value)
    }

    mutating func field<T: BinaryInteger>(_ key: String, _ value: T) {
        self.key(key)
        bytes.append(contentsOf: String(value).utf8)
        needsComma = true
    }

    mutating func field(_ key: String, _ value: Bool) {
        self.key(key)
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
        needsComma = true
    }

    mutating func null(_ key: String) {
        self.key(key)
        bytes.append(contentsOf: "null".utf8)
        needsComma = true
    }

    private mutating func key(_ key: String) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        appendString(key)
        bytes.append(UInt8(ascii: ":"))
    }

    /// Appends `value` as a JSON string, escaping quotes, backslashes and control characters.
    private mutating func appendString(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00 ..< 0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                          hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends raw bytes (already valid JSON) as they are.
    mutating func appendRaw(_ text: String) {
        bytes.append(contentsOf: text.utf8)
    }
}
