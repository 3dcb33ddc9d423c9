/// Why a message could not be decoded. Typed throws: nothing is boxed on the packet path.
public enum WireError: Error, Equatable, Sendable {
    /// Fewer bytes than the structure needs.
    case truncated
    /// Bytes that do not follow the format.
    case malformed
    /// A declared length beyond its cap.
    case lengthOutOfRange(declared: Int, limit: Int)
    /// Nesting deeper than the decoder allows.
    case nestingTooDeep(limit: Int)
}
