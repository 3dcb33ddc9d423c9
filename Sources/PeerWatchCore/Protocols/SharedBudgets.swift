/// What all flows of one engine share: the bytes decoders may hold between packets (metadata
/// assemblies, collected HTTP bodies), so that many flows cannot together exhaust memory, and
/// the anomalies they met.
struct SharedBudgets {
    /// Bytes all BEP 9 metadata assemblies in progress may still take.
    var metadataBytes: Int
    /// Bytes all collected HTTP bodies (.torrent files) may still take.
    var httpBodyBytes: Int
    /// Anomalies met, by `Anomaly.rawValue`.
    var anomalies = [Int](repeating: 0, count: Anomaly.allCases.count)

    init(limits: DecoderLimits) {
        metadataBytes = limits.maxMetadataBytesInFlight
        httpBodyBytes = limits.maxBodyBytesInFlight
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

    public init() {}
}
