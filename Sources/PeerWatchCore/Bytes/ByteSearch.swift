/// Finding a byte in a buffer eight bytes at a time (the SWAR "has zero byte" test), for scans
/// over the first kilobytes of every stream, where a byte-by-byte loop is the hot spot.
public enum ByteSearch {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highs: UInt64 = 0x8080_8080_8080_8080

    /// The index of the first `byte` in `buffer` at or after `start`, or `nil`.
    public static func firstIndex(of byte: UInt8, in buffer: UnsafeRawBufferPointer, from start: Int = 0) -> Int? {
        guard start >= 0 else { return nil }
        var index = start
        let pattern = ones &* UInt64(byte)
        while buffer.count &- index >= 8 {
            let word = buffer.loadUnaligned(fromByteOffset: index, as: UInt64.self) ^ pattern
            if (word &- ones) & ~word & highs != 0 { break }
            index &+= 8
        }
        while index < buffer.count {
            if buffer[index] == byte { return index }
            index &+= 1
        }
        return nil
    }
}
