/// A bounds-checked cursor over borrowed capture bytes.
///
/// Reads return `nil` instead of trapping when too few bytes remain, and a failed read leaves the
/// cursor where it was. A reader never owns memory: it lives only while the bytes it points into
/// are valid (inside a capture callback), and it never crosses a thread.
public struct ByteReader {
    /// The whole region this reader may see.
    public let base: UnsafeRawBufferPointer
    /// How many bytes of `base` have been consumed.
    public private(set) var offset = 0
    /// Where readable bytes end in `base` (lowered by `truncate(toRemaining:)`).
    public private(set) var end: Int

    /// Creates a reader over `bytes`, positioned at its start.
    public init(_ bytes: UnsafeRawBufferPointer) {
        base = bytes
        end = bytes.count
    }

    /// The number of bytes not yet consumed.
    public var remaining: Int { end &- offset }

    /// Whether every byte has been consumed.
    public var isEmpty: Bool { remaining <= 0 }

    /// The unconsumed bytes, sharing memory with the capture buffer.
    public var remainingBytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: base[offset ..< end])
    }

    /// Reads a big-endian integer and advances, or returns `nil` if too few bytes remain.
    public mutating func readInteger<T: FixedWidthInteger>(as: T.Type = T.self) -> T? {
        guard let value = peekInteger(as: T.self) else { return nil }
        offset &+= MemoryLayout<T>.size
        return value
    }

    /// Reads a little-endian integer and advances, or returns `nil` if too few bytes remain.
    public mutating func readLittleEndianInteger<T: FixedWidthInteger>(as: T.Type = T.self) -> T? {
        guard let value = peekInteger(as: T.self, at: 0) else { return nil }
        offset &+= MemoryLayout<T>.size
        return T(littleEndian: T(bigEndian: value))
    }

    /// Returns the big-endian integer `skipping` bytes ahead without moving, or `nil`.
    public func peekInteger<T: FixedWidthInteger>(as: T.Type = T.self, at skipping: Int = 0) -> T? {
        let size = MemoryLayout<T>.size
        guard skipping >= 0, skipping <= remaining, size <= remaining &- skipping else { return nil }
        return T(bigEndian: base.loadUnaligned(fromByteOffset: offset &+ skipping, as: T.self))
    }

    /// Returns the little-endian integer `skipping` bytes ahead without moving, or `nil`.
    public func peekLittleEndianInteger<T: FixedWidthInteger>(as: T.Type = T.self, at skipping: Int = 0) -> T? {
        peekInteger(as: T.self, at: skipping).map { T(littleEndian: T(bigEndian: $0)) }
    }

    /// Returns the byte `skipping` bytes ahead without moving, or `nil`.
    public func peekByte(at skipping: Int = 0) -> UInt8? {
        guard skipping >= 0, skipping < remaining else { return nil }
        return base[offset &+ skipping]
    }

    /// Reads one byte and advances, or returns `nil` at the end.
    public mutating func readByte() -> UInt8? {
        guard let byte = peekByte() else { return nil }
        offset &+= 1
        return byte
    }

    /// Moves past `count` bytes; returns `false` (and does not move) if too few remain.
    @discardableResult
    public mutating func skip(_ count: Int) -> Bool {
        guard count >= 0, count <= remaining else { return false }
        offset &+= count
        return true
    }

    /// The next `count` bytes as their own reader, sharing memory (no copy), and advances.
    public mutating func readReader(count: Int) -> ByteReader? {
        guard let bytes = readBytes(count: count) else { return nil }
        return ByteReader(bytes)
    }

    /// The next `count` bytes as a borrowed buffer (no copy), and advances.
    public mutating func readBytes(count: Int) -> UnsafeRawBufferPointer? {
        guard let bytes = peekBytes(count: count) else { return nil }
        offset &+= count
        return bytes
    }

    /// The next `count` bytes as a borrowed buffer (no copy), without moving.
    public func peekBytes(count: Int, at skipping: Int = 0) -> UnsafeRawBufferPointer? {
        guard count >= 0, skipping >= 0, skipping <= remaining, count <= remaining &- skipping else {
            return nil
        }
        let start = offset &+ skipping
        return UnsafeRawBufferPointer(rebasing: base[start ..< start &+ count])
    }

    /// Whether the unconsumed bytes begin with `prefix`.
    public func starts<C: Collection<UInt8>>(with prefix: C) -> Bool {
        guard prefix.count <= remaining else { return false }
        var index = offset
        for byte in prefix {
            if base[index] != byte { return false }
            index &+= 1
        }
        return true
    }

    /// Limits the reader to its next `count` bytes (for a length field that bounds a payload);
    /// `offset` keeps counting from the start of `base`. Returns `false` and changes nothing if
    /// fewer than `count` remain.
    @discardableResult
    public mutating func truncate(toRemaining count: Int) -> Bool {
        guard count >= 0, count <= remaining else { return false }
        end = offset &+ count
        return true
    }
}

@available(*, unavailable)
extension ByteReader: Sendable {}
