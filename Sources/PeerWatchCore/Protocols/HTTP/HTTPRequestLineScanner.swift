/// Collects the first request line of an HTTP/1.x client stream, however it is segmented.
///
/// It looks only at the start of a direction: a stream that does not open with a request method
/// is not HTTP and is let go at once. A split line is collected into a bounded buffer.
public struct HTTPRequestLineScanner: Sendable {
    /// Request lines beyond this are not tracker requests (a scrape of 74 infohashes, the BEP 15
    /// UDP maximum, is under 6 KiB percent-encoded); longer is hostile or something else.
    public static let maxLineLength = 16 * 1024
    static let methods: [[UInt8]] = ["GET ", "HEAD ", "POST "].map { Array($0.utf8) }

    private enum State: Sendable {
        case start
        case collecting
        /// After the line: the header block, collected for `headers` (Gnutella's URN headers).
        case headers
        case finished
    }

    /// Header blocks longer than this are not collected.
    public static let maxHeaderBlock = 16 * 1024

    private var state = State.start
    private var buffer: [UInt8] = []
    private var headerBlock: [UInt8] = []

    public init() {}

    /// Takes one chunk of the stream; after the request line, collects its header block too
    /// when `line` asks for it.
    /// - Parameters:
    ///   - line: called once with the request line (without CR LF), if there is one; returns
    ///     whether the header block is wanted (most requests' headers are not read at all).
    ///   - headers: called once with the header lines after it (each ending in CR LF), when
    ///     the blank line that ends them has come.
    public mutating func consume(_ chunk: StreamChunk, line: (UnsafeRawBufferPointer) -> Bool, headers: (UnsafeRawBufferPointer) -> Void) {
        if state == .headers {
            guard case .data(let bytes) = chunk else { return finish() }
            return collectHeaders(bytes, headers)
        }
        var rest: UnsafeRawBufferPointer?
        var wanted = false
        consume(chunk, found: { wanted = line($0) }, rest: &rest)
        guard wanted, let rest else { return }
        state = .headers
        headerBlock = [0x0D, 0x0A]
        collectHeaders(rest, headers)
    }

    private mutating func collectHeaders(_ bytes: UnsafeRawBufferPointer, _ headers: (UnsafeRawBufferPointer) -> Void) {
        let searchFrom = max(0, headerBlock.count - 3)
        let take = min(bytes.count, Self.maxHeaderBlock - headerBlock.count)
        headerBlock.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0 ..< take]))
        if let end = headerBlock.withUnsafeBytes({ HTTPText.headerBlockEnd(in: $0, from: searchFrom) }) {
            // The block began with the request line's CR LF.
            headerBlock.withUnsafeBytes { headers(UnsafeRawBufferPointer(rebasing: $0[2 ..< end])) }
            finish()
        } else if headerBlock.count >= Self.maxHeaderBlock {
            finish()
        }
    }

    /// Whether the scanner wants no more bytes.
    public var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    /// Takes one chunk of the stream.
    /// - Parameter found: called once with the request line (without CR LF), if there is one.
    public mutating func consume(_ chunk: StreamChunk, found: (UnsafeRawBufferPointer) -> Void) {
        var rest: UnsafeRawBufferPointer?
        consume(chunk, found: found, rest: &rest)
    }

    /// The request line; `rest` gets the bytes after it in this chunk when headers are wanted.
    private mutating func consume(_ chunk: StreamChunk, found: (UnsafeRawBufferPointer) -> Void, rest: inout UnsafeRawBufferPointer?) {
        guard case .data(let bytes) = chunk else {
            finish()
            return
        }
        switch state {
        case .finished, .headers:
            return
        case .start:
            let reader = ByteReader(bytes)
            guard Self.methods.contains(where: { method in
                reader.starts(with: method.prefix(min(method.count, bytes.count)))
            }), !bytes.isEmpty else {
                finish()
                return
            }
            if let end = ByteSearch.firstIndex(of: 0x0A, in: bytes) {
                lineEnded()
                found(Self.trimmed(UnsafeRawBufferPointer(rebasing: bytes[0 ..< end])))
                rest = UnsafeRawBufferPointer(rebasing: bytes[(end + 1)...])
                return
            }
            guard bytes.count <= Self.maxLineLength else { return finish() }
            buffer = Array(bytes)
            state = .collecting
        case .collecting:
            if let end = ByteSearch.firstIndex(of: 0x0A, in: bytes) {
                guard buffer.count + end <= Self.maxLineLength else { return finish() }
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0 ..< end]))
                let line = buffer
                lineEnded()
                line.withUnsafeBytes { found(Self.trimmed($0)) }
                rest = UnsafeRawBufferPointer(rebasing: bytes[(end + 1)...])
                return
            }
            guard buffer.count + bytes.count <= Self.maxLineLength else { return finish() }
            buffer.append(contentsOf: bytes)
            // The method prefix is only known once enough bytes are in.
            if buffer.count >= 5, !Self.methods.contains(where: { buffer.starts(with: $0) }) { finish() }
        }
    }

    private mutating func finish() {
        state = .finished
        buffer = []
        headerBlock = []
    }

    /// The request line is in: the scanner is finished unless its header block is wanted.
    private mutating func lineEnded() {
        finish()
    }

    private static func trimmed(_ line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let last = line.last, last == 0x0D else { return line }
        return UnsafeRawBufferPointer(rebasing: line[0 ..< line.count - 1])
    }
}
