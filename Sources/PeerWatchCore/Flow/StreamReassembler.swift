/// What a reassembler hands its consumer: bytes in stream order, or news of a hole.
public enum StreamChunk {
    /// The next bytes of the stream, borrowed from the capture buffer or the reorder buffer.
    case data(UnsafeRawBufferPointer)
    /// `count` bytes were never seen (lost, or outside the bounds) and are skipped.
    case gap(count: Int)
}

/// Puts one direction of a TCP connection back in order.
///
/// In-order segments are handed on straight from the capture buffer (no copy). Segments that
/// arrive ahead of a hole are copied into a bounded reorder buffer and handed on when the hole
/// fills; when the buffer's bounds are reached the hole is declared a gap and skipped.
/// Retransmissions and overlaps are trimmed to what was not yet delivered (first copy wins,
/// as the receiving host would see it). A stream picked up mid-way starts at the first segment
/// seen. Sequence numbers compare modulo 2^32.
public struct StreamReassembler: Sendable {
    /// The most out-of-order bytes held per direction. Enough for a typical receive window's
    /// worth of reordering at the start of a flow, which is all that detection needs.
    public static let maxBufferedBytes = 256 * 1024
    /// The most out-of-order segments held per direction.
    public static let maxBufferedSegments = 128
    /// A segment more than this far ahead is not reordering but a lost synchronisation.
    public static let maxSequenceJump: UInt32 = 1 << 26

    private struct Pending: Sendable {
        var sequence: UInt32
        var bytes: [UInt8]
    }

    /// Whether the stream's starting sequence number is known.
    public private(set) var isSynchronized = false
    /// Whether the stream was picked up without its SYN.
    public private(set) var startedMidStream = false
    /// The sequence number of the next byte to hand on.
    public private(set) var nextSequence: UInt32 = 0
    /// Bytes handed on so far, gaps included: the stream offset of the next byte.
    public private(set) var streamOffset: Int64 = 0
    /// Bytes of retransmitted or overlapping data dropped.
    public private(set) var duplicateBytes: Int64 = 0
    /// Gaps declared.
    public private(set) var gapCount = 0
    private var pending: [Pending] = []
    private var pendingBytes = 0

    public init() {}

    /// Bytes currently held out of order.
    public var bufferedBytes: Int { pendingBytes }

    /// Frees the reorder buffer (when the consumer no longer wants this direction).
    public mutating func discardBuffered() {
        pending = []
        pendingBytes = 0
    }

    /// Takes one segment of this direction and hands any newly in-order bytes to `deliver`.
    public mutating func receive(
        sequence: UInt32, flags: TCPFlags, payload: UnsafeRawBufferPointer, deliver: (StreamChunk) -> Void
    ) {
        var sequence = sequence
        if flags.contains(.syn) {
            // The SYN takes one sequence number; data (rare) starts after it.
            if !isSynchronized || startedMidStream && streamOffset == 0 {
                nextSequence = sequence &+ 1
                isSynchronized = true
                startedMidStream = false
            }
            sequence &+= 1
        }
        if flags.contains(.rst) { return }
        guard isSynchronized else {
            guard !payload.isEmpty || flags.contains(.ack) else { return }
            nextSequence = sequence
            isSynchronized = true
            startedMidStream = true
            if payload.isEmpty { return }
            return accept(sequence: sequence, payload: payload, deliver: deliver)
        }
        guard !payload.isEmpty else { return }
        accept(sequence: sequence, payload: payload, deliver: deliver)
    }

    private mutating func accept(sequence: UInt32, payload: UnsafeRawBufferPointer, deliver: (StreamChunk) -> Void) {
        let ahead = Int32(bitPattern: sequence &- nextSequence)
        if ahead <= 0 {
            let overlap = Int(-Int64(ahead))
            guard overlap < payload.count else {
                duplicateBytes &+= Int64(payload.count)
                return
            }
            duplicateBytes &+= Int64(overlap)
            hand(UnsafeRawBufferPointer(rebasing: payload[overlap...]), deliver)
            drainPending(deliver)
            return
        }
        guard UInt32(ahead) <= Self.maxSequenceJump else { return }
        bufferAhead(sequence: sequence, payload: payload)
        if pendingBytes > Self.maxBufferedBytes || pending.count > Self.maxBufferedSegments {
            skipToFirstPending(deliver)
        }
    }

    private mutating func hand(_ bytes: UnsafeRawBufferPointer, _ deliver: (StreamChunk) -> Void) {
        guard !bytes.isEmpty else { return }
        nextSequence &+= UInt32(truncatingIfNeeded: bytes.count)
        streamOffset &+= Int64(bytes.count)
        deliver(.data(bytes))
    }

    private mutating func bufferAhead(sequence: UInt32, payload: UnsafeRawBufferPointer) {
        // Keep `pending` sorted by distance from `nextSequence`; an exact duplicate is dropped.
        let distance = sequence &- nextSequence
        var position = pending.count
        for (offset, segment) in pending.enumerated() {
            let other = segment.sequence &- nextSequence
            if other == distance, segment.bytes.count >= payload.count {
                duplicateBytes &+= Int64(payload.count)
                return
            }
            if other > distance { position = offset; break }
        }
        pending.insert(Pending(sequence: sequence, bytes: Array(payload)), at: position)
        pendingBytes &+= payload.count
    }

    private mutating func drainPending(_ deliver: (StreamChunk) -> Void) {
        while let first = pending.first {
            let ahead = Int32(bitPattern: first.sequence &- nextSequence)
            if ahead > 0 { return }
            pending.removeFirst()
            pendingBytes &-= first.bytes.count
            let overlap = Int(-Int64(ahead))
            if overlap >= first.bytes.count {
                duplicateBytes &+= Int64(first.bytes.count)
                continue
            }
            duplicateBytes &+= Int64(overlap)
            first.bytes.withUnsafeBytes { raw in
                hand(UnsafeRawBufferPointer(rebasing: raw[overlap...]), deliver)
            }
        }
    }

    private mutating func skipToFirstPending(_ deliver: (StreamChunk) -> Void) {
        guard let first = pending.first else { return }
        let missing = Int(first.sequence &- nextSequence)
        gapCount &+= 1
        nextSequence = first.sequence
        streamOffset &+= Int64(missing)
        deliver(.gap(count: missing))
        drainPending(deliver)
    }

    /// Declares the hole before the buffered segments a gap and hands on what follows it (for a
    /// flow that ends, or a consumer that cannot wait).
    public mutating func flushPastGaps(_ deliver: (StreamChunk) -> Void) {
        while !pending.isEmpty {
            skipToFirstPending(deliver)
        }
    }
}
