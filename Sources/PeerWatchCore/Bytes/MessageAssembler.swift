/// Frames the messages of a byte stream whose messages say their own length (Gnutella
/// descriptors, G2 packets, eDonkey frames): however the stream is chunked, each message comes out
/// whole, borrowed, in order. A message is parsed where it lies in the chunk when it is there
/// whole; only a message split across chunks is copied, into one bounded buffer. A message may
/// be delivered by its head alone (an eDonkey part's header, without its data): the rest is
/// skipped as it passes, never held.
struct MessageAssembler {
    /// What the framing function says of the bytes at the start of a message.
    enum Frame {
        /// Too few bytes to tell the message's length.
        case needMore
        /// The message is `length` bytes; the first `keep` of them are delivered, the rest skipped.
        case message(length: Int, keep: Int)
        /// The bytes cannot start a message.
        case invalid(WireError)
    }

    /// The longest message head held across chunks.
    let maxHeld: Int
    private var held: [UInt8] = []
    private var skipping = 0
    /// Bytes skipped as the tails of messages delivered by their head.
    private(set) var bytesSkipped: Int64 = 0

    init(maxHeld: Int) {
        self.maxHeld = maxHeld
    }

    /// Bytes held now (a split message).
    var bytesHeld: Int { held.count }

    /// Takes the next bytes of the stream.
    /// - Parameters:
    ///   - frame: tells a message's length from its first bytes.
    ///   - deliver: gets each message's head (`keep` bytes) and its full length; returns
    ///     whether to go on.
    /// - Returns: `.more`, `.done` when `deliver` stopped, or the framing violation.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, frame: (UnsafeRawBufferPointer) -> Frame,
                       deliver: (UnsafeRawBufferPointer, Int) -> Bool) -> DecodeStatus {
        var input = bytes
        if skipping > 0 {
            let skipped = min(skipping, input.count)
            skipping -= skipped
            bytesSkipped &+= Int64(skipped)
            input = UnsafeRawBufferPointer(rebasing: input[skipped...])
        }
        guard !input.isEmpty else { return .more }
        if held.isEmpty {
            let (consumed, status) = Self.frames(in: input, skipping: &skipping, bytesSkipped: &bytesSkipped, frame: frame, deliver: deliver)
            guard status == .more else { return status }
            let rest = input.count - consumed
            guard rest <= maxHeld else { return .violation(.lengthOutOfRange(declared: rest, limit: maxHeld)) }
            if rest > 0 { held.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[consumed...])) }
            return .more
        }
        held.append(contentsOf: input)
        var skip = 0, skippedNow: Int64 = 0
        let (consumed, status) = held.withUnsafeBytes { raw in
            Self.frames(in: raw, skipping: &skip, bytesSkipped: &skippedNow, frame: frame, deliver: deliver)
        }
        skipping = skip
        bytesSkipped &+= skippedNow
        guard status == .more else {
            held = []
            return status
        }
        if consumed == held.count {
            held.removeAll(keepingCapacity: held.capacity <= 4_096)
        } else if consumed > 0 {
            held.removeFirst(consumed)
        }
        guard held.count <= maxHeld else {
            let count = held.count
            held = []
            return .violation(.lengthOutOfRange(declared: count, limit: maxHeld))
        }
        return .more
    }

    /// Frames whole messages at the start of `bytes`; returns how many bytes were used (a
    /// message delivered by its head uses all that is there of it, and the rest is left in
    /// `skipping`).
    private static func frames(in bytes: UnsafeRawBufferPointer, skipping: inout Int, bytesSkipped: inout Int64,
                               frame: (UnsafeRawBufferPointer) -> Frame, deliver: (UnsafeRawBufferPointer, Int) -> Bool) -> (Int, DecodeStatus) {
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            switch frame(rest) {
            case .needMore:
                return (offset, .more)
            case .invalid(let error):
                return (offset, .violation(error))
            case .message(let length, let keep):
                let head = min(max(keep, 0), length)
                guard length > 0 else { return (offset, .violation(WireError.malformed)) }
                guard rest.count >= head else { return (offset, .more) }
                guard deliver(UnsafeRawBufferPointer(rebasing: rest[0 ..< head]), length) else { return (offset, .done) }
                let available = min(length, rest.count)
                if available > head { bytesSkipped &+= Int64(available - head) }
                skipping = length - available
                offset += available
            }
        }
        return (offset, .more)
    }
}
