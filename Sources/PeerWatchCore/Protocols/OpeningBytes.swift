/// The first bytes of one probing TCP direction, kept inline (no heap) so that the families that
/// recognise a flow by how it opens (HTTP, Gnutella, eDonkey, Direct Connect) all look at the
/// same few bytes however the stream was segmented, and the one that recognises it can read
/// both directions from their start.
struct OpeningBytes {
    /// Bytes kept: enough for every opening a family tells by (`GNUTELLA`, `$MyNick `, an
    /// eDonkey header with its opcode and hash length).
    static let capacity = 8

    private var storage: UInt64 = 0
    /// Bytes kept, and bytes kept before the latest chunk.
    private(set) var kept: UInt8 = 0
    private var keptBefore: UInt8 = 0
    /// Bytes offered in all, and before the latest chunk (more than kept when a direction sent
    /// more than `capacity` before a family recognised the flow).
    private var offered: Int32 = 0
    private var offeredBefore: Int32 = 0
    /// Whether the direction began with bytes never seen.
    private(set) var startsWithGap = false

    /// Whether nothing has been offered yet.
    var isEmpty: Bool { offered == 0 && !startsWithGap }

    /// Takes the direction's next in-order chunk.
    mutating func add(_ chunk: StreamChunk) {
        keptBefore = kept
        offeredBefore = offered
        switch chunk {
        case .gap(let count):
            if offered == 0 { startsWithGap = true }
            offered = offered &+ Int32(clamping: count)
        case .data(let bytes):
            let room = Self.capacity - Int(kept)
            // Bytes after a gap are not the opening.
            let take = startsWithGap || offered > Int32(kept) ? 0 : min(room, bytes.count)
            if take > 0 {
                withUnsafeMutableBytes(of: &storage) { raw in
                    for index in 0 ..< take { raw[Int(kept) + index] = bytes[index] }
                }
                kept &+= UInt8(take)
            }
            offered = offered &+ Int32(clamping: bytes.count)
        }
    }

    /// Calls `body` with the bytes kept (nothing if the direction began with a gap).
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: storage) { raw in body(UnsafeRawBufferPointer(rebasing: raw[0 ..< (startsWithGap ? 0 : Int(kept))])) }
    }

    /// Hands the direction over from its start to a decoder that will read on: for the direction
    /// whose latest chunk decided (and is decoded next), what came before that chunk; for the
    /// other, everything. Bytes offered beyond those kept are handed over as a gap, so that no
    /// decoder takes later bytes for the ones it missed.
    func replay(includingLatest: Bool, _ body: (StreamChunk) -> Void) {
        let count = Int(includingLatest ? kept : keptBefore)
        let total = Int(includingLatest ? offered : offeredBefore)
        if startsWithGap {
            if total > 0 { body(.gap(count: total)) }
            return
        }
        if count > 0 { withUnsafeBytes(of: storage) { raw in body(.data(UnsafeRawBufferPointer(rebasing: raw[0 ..< count]))) } }
        if total > count { body(.gap(count: total - count)) }
    }
}

/// Whether `bytes` begin with `text` as far as they go: `.yes` when all of `text` is there,
/// `.needMore` while they are a prefix of it, `.no` otherwise.
func openingMatch(_ bytes: UnsafeRawBufferPointer, _ text: StaticString, caseInsensitive: Bool = false) -> Recognition {
    text.withUTF8Buffer { wanted in
        let count = min(wanted.count, bytes.count)
        for index in 0 ..< count {
            let byte = caseInsensitive ? HTTPText.lowercased(bytes[index]) : bytes[index]
            guard byte == wanted[index] else { return .no }
        }
        return count == wanted.count ? .yes : .needMore
    }
}

extension Recognition {
    /// The better of two recognitions: `.yes` if either says yes, else `.needMore` if either may
    /// still (no array: it runs on the probing path).
    func or(_ other: Recognition) -> Recognition {
        if self == .yes || other == .yes { return .yes }
        return self == .needMore || other == .needMore ? .needMore : .no
    }
}
