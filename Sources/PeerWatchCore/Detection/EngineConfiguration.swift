/// The engine's tunables. Defaults suit a 10 Gbit/s ISP link on one worker.
public struct EngineConfiguration: Sendable {
    /// The most flows tracked at once; past it the least recently seen flow is evicted.
    public var maxFlows = 1_048_576
    /// Idle seconds before an open TCP flow expires.
    public var tcpIdleTimeout: Int64 = 600
    /// Idle seconds before a TCP flow that saw FIN or RST expires.
    public var tcpClosedTimeout: Int64 = 30
    /// Idle seconds before a UDP flow expires.
    public var udpIdleTimeout: Int64 = 120
    /// Bytes the families' decoders may hold between packets, all flows together.
    public var decoderLimits = DecoderLimits()
    /// The seed of the flow hash (the same for all workers of a sensor, which shard flows by
    /// it); a sensor draws one at start so that flow-table collisions cannot be crafted.
    public var flowHashSeed: UInt64 = 0
    /// Whether the engine fills `flow_end`'s encrypted-flow counts itself. A pipeline of several
    /// workers turns it off and applies one `FlaggedAddressTally` to all workers' events.
    public var tallyFlaggedAddresses = true
    /// The subscriber address blocks, to tell which side of an alert is the subscriber.
    public var homeNetworks: [IPNetwork] = []
    /// The UDP ports of tunnels, and whether VLAN ids keep flows apart.
    public var carriers = CarrierOptions()
    /// The bounds of IP fragment reassembly.
    public var fragmentLimits = FragmentLimits()

    public init() {}
}
