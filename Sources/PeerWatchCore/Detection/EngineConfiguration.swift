/// The engine's tunables. Defaults suit a 10 Gbit/s ISP link on one worker.
public struct EngineConfiguration: Sendable {
    /// The most flows tracked at once; past it the least recently seen flow is evicted.
    public var maxFlows = 262_144
    /// Idle seconds before an open TCP flow expires.
    public var tcpIdleTimeout: Int64 = 600
    /// Idle seconds before a TCP flow that saw FIN or RST expires.
    public var tcpClosedTimeout: Int64 = 30
    /// Idle seconds before a UDP flow expires.
    public var udpIdleTimeout: Int64 = 120
    /// Bytes all BEP 9 metadata assemblies in progress may hold together, so that peers
    /// announcing huge dictionaries on many flows cannot exhaust memory.
    public var maxMetadataBytesInFlight = 64 * 1024 * 1024
    /// Bytes all HTTP bodies being collected (.torrent files, up to 8 MiB each) may hold
    /// together: 60 flows at 8 MiB each would otherwise take half a gigabyte.
    public var maxHTTPBodyBytesInFlight = 64 * 1024 * 1024
    /// The subscriber address blocks, to tell which side of an alert is the subscriber.
    public var homeNetworks: [IPNetwork] = []

    public init() {}
}
