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

    init(configuration: EngineConfiguration) {
        metadataBytes = configuration.maxMetadataBytesInFlight
        httpBodyBytes = configuration.maxHTTPBodyBytesInFlight
    }

    mutating func note(_ anomaly: Anomaly, count: Int = 1) {
        anomalies[anomaly.rawValue] &+= count
    }
}
