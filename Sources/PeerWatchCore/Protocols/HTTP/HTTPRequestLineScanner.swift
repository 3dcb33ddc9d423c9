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
        case finished
    }

    private var state = State.start
    private var buffer: [UInt8] = []

    public init() {}

    /// Whether the scanner wants no more bytes.
    public var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    /// Takes one chunk of the stream.
    /// - Parameter found: called once with the request line (without CR LF), if there is one.
    public mutating func consume(_ chunk: StreamChunk, found: (UnsafeRawBufferPointer) -> Void) {
        guard case .data(let bytes) = chunk else {
            finish()
            return
        }
        switch state {
        case .finished:
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
                finish()
                found(Self.trimmed(UnsafeRawBufferPointer(rebasing: bytes[0 ..< end])))
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
                finish()
                line.withUnsafeBytes { found(Self.trimmed($0)) }
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
    }

    private static func trimmed(_ line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let last = line.last, last == 0x0D else { return line }
        return UnsafeRawBufferPointer(rebasing: line[0 ..< line.count - 1])
    }
}
