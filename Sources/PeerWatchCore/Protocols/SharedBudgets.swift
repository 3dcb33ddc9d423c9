/// What all flows of one engine share: the bytes decoders may hold between packets (metadata
/// assemblies, collected HTTP bodies), so that many flows cannot together exhaust memory, and
/// the anomalies they met.
struct SharedBudgets {
    /// Bytes all BEP 9 metadata assemblies in progress may still take.
    var metadataBytes: Int
    /// Bytes all collected HTTP bodies (.torrent files) may still take.
    var httpBodyBytes: Int
    /// Streaming inflaters (deflated Gnutella links) all flows may still start: each holds
    /// zlib's window and an output buffer, about 56 KiB.
    var inflaters: Int
    /// Anomalies met, by `Anomaly.rawValue`.
    var anomalies = [Int](repeating: 0, count: Anomaly.allCases.count)

    /// The limits the budgets started from (per-direction and per-message caps).
    let limits: DecoderLimits

    init(limits: DecoderLimits) {
        self.limits = limits
        metadataBytes = limits.maxMetadataBytesInFlight
        httpBodyBytes = limits.maxBodyBytesInFlight
        inflaters = limits.maxInflaters
    }

    mutating func note(_ anomaly: Anomaly, count: Int = 1) {
        anomalies[anomaly.rawValue] &+= count
    }
}

/// Bytes the families' decoders may hold between packets, all flows of an engine together, so
/// that many flows cannot together exhaust memory.
public struct DecoderLimits: Sendable {
    /// BEP 9 metadata assemblies in progress: peers announcing huge dictionaries on many flows.
    public var maxMetadataBytesInFlight = 64 * 1024 * 1024
    /// HTTP bodies being collected (.torrent files, up to 8 MiB each): 60 flows at 8 MiB each
    /// would otherwise take half a gigabyte.
    public var maxBodyBytesInFlight = 64 * 1024 * 1024
    /// Streaming inflaters alive at once (deflated Gnutella links, about 56 KiB each): 2,048
    /// links take about 112 MiB; a link past the budget is counted and not read.
    public var maxInflaters = 2_048
    /// Bytes one direction of a stream may inflate to in all (a link's descriptors over its
    /// life); past it the direction is counted as a bomb and not read further.
    public var maxInflatedPerDirection = 256 * 1024 * 1024
    /// Bytes one compressed message (an eDonkey packed frame, a Kad packet, a G2 datagram)
    /// may inflate to.
    public var maxInflatedPerMessage = 1024 * 1024

    public init() {}
}
