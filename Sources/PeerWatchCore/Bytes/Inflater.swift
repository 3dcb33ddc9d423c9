import CZlib

/// A streaming inflater over zlib (RFC 1950), raw deflate (RFC 1951) or gzip (RFC 1952) data,
/// with a cap on what it may produce: input comes in pieces of any size, output goes to a
/// closure in pieces of at most `chunkSize` bytes, borrowed.
///
/// zlib keeps a pointer back to its stream, so the stream lives on the heap and the inflater
/// is a class: one per stream that needs it (a compressed HTTP body, an eMule packed frame, a
/// Gnutella link), never per packet.
public final class Inflater {
    /// What the compressed bytes are wrapped in.
    public enum Format: Sendable {
        /// zlib (RFC 1950): HTTP `deflate` as servers send it, eMule packed frames.
        case zlib
        /// Raw deflate (RFC 1951), which some servers send as HTTP `deflate`.
        case raw
        /// gzip (RFC 1952), several members in a row allowed.
        case gzip

        var windowBits: Int32 {
            switch self {
            case .zlib: 15
            case .raw: -15
            case .gzip: 15 + 16
            }
        }
    }

    /// What a call to `inflate` ended with.
    public enum Outcome: Equatable, Sendable {
        /// All input was taken; more may follow.
        case needsInput
        /// The compressed stream ended (bytes after it are ignored, except for another gzip member).
        case finished
        /// Producing more would pass the output cap: a bomb, or more than anyone needs.
        case limitReached
        /// The data is not what `format` says (zlib's message).
        case malformed(String)
    }

    /// Output bytes handed over per call of the closure.
    public static let chunkSize = 16 * 1024

    private let stream: UnsafeMutablePointer<z_stream>
    private let buffer: UnsafeMutableRawBufferPointer
    private let format: Format
    private var ended = false
    /// Bytes produced so far.
    public private(set) var produced = 0

    /// Makes an inflater, or `nil` if zlib cannot (out of memory).
    public init?(format: Format) {
        self.format = format
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        guard peerwatch_inflate_init2(stream, format.windowBits) == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            buffer.deallocate()
            return nil
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
        buffer.deallocate()
    }

    /// Makes the inflater ready for a new stream of the same format, keeping its memory.
    public func reset() {
        ended = inflateReset(stream) != Z_OK
        produced = 0
    }

    /// Inflates `input`, calling `output` with what comes out, until the input is used up, the
    /// stream ends, or `limit` bytes in all have been produced.
    /// - Parameter limit: the most output this inflater may produce over its whole life.
    public func inflate(_ input: UnsafeRawBufferPointer, limit: Int, output: (UnsafeRawBufferPointer) -> Void) -> Outcome {
        guard !ended else { return .finished }
        guard let base = input.baseAddress, !input.isEmpty else { return .needsInput }
        var remaining = input.count
        var next = base.assumingMemoryBound(to: UInt8.self)
        while true {
            let room = min(Self.chunkSize, limit - produced)
            guard room > 0 else { return .limitReached }
            let taken = min(remaining, Int(UInt32.max))
            stream.pointee.next_in = UnsafeMutablePointer(mutating: next)
            stream.pointee.avail_in = UInt32(taken)
            stream.pointee.next_out = buffer.baseAddress?.assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = UInt32(room)
            let status = CZlib.inflate(stream, Z_NO_FLUSH)
            let used = taken - Int(stream.pointee.avail_in)
            remaining -= used
            next += used
            let made = room - Int(stream.pointee.avail_out)
            if made > 0 {
                produced += made
                output(UnsafeRawBufferPointer(rebasing: buffer[0 ..< made]))
            }
            switch status {
            case Z_OK, Z_BUF_ERROR:
                // Z_BUF_ERROR: no progress possible, which means the input ran out.
                if remaining == 0, stream.pointee.avail_out > 0 { return .needsInput }
                if status == Z_BUF_ERROR, made == 0 { return remaining == 0 ? .needsInput : .malformed("no progress") }
            case Z_STREAM_END:
                // gzip allows members in a row (concatenated .gz files).
                if format == .gzip, remaining > 0, next.pointee == 0x1F {
                    guard inflateReset(stream) == Z_OK else { return .malformed("reset failed") }
                    continue
                }
                ended = true
                return .finished
            default:
                let message = stream.pointee.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                ended = true
                return .malformed(message)
            }
        }
    }
}
