/// Finds magnet links in a body that arrives in pieces. A link still open at the end of a piece
/// is held back (at most `MagnetLink.maxLinkLength` bytes) until its end arrives; otherwise only
/// the last bytes of the stream are kept, in case the `magnet:?` marker itself is split.
public struct MagnetStreamScanner: Sendable {
    /// Bytes kept from the end of the stream: one less than the longest marker, "magnet%3a%3f".
    static let markerCarry = 11
    private var carry: [UInt8] = []

    public init() {}

    /// Scans the next piece of the body.
    public mutating func consume(_ bytes: UnsafeRawBufferPointer, found: (ContentID) -> Void) {
        let previous = carry
        carry = []
        if !previous.isEmpty {
            // Links that start in the carried bytes, read together with the start of this piece.
            var joined = previous
            let take = min(bytes.count, MagnetLink.maxLinkLength)
            joined.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0 ..< take]))
            let pending = joined.withUnsafeBytes { raw in
                MagnetLink.scan(raw, startingBefore: previous.count, holdingUnterminated: take == bytes.count, found: found)
            }
            if let pending {
                carry = Array(joined[pending...].prefix(MagnetLink.maxLinkLength))
                return
            }
        }
        // Links that start in this piece.
        if let pending = MagnetLink.scan(bytes, holdingUnterminated: true, found: found) {
            carry = Array(bytes[pending...])
        } else if bytes.count >= Self.markerCarry {
            carry = Array(bytes.suffix(Self.markerCarry))
        } else {
            carry = Array((previous + Array(bytes)).suffix(Self.markerCarry))
        }
    }
}
