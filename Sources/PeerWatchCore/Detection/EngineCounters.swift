/// Aggregate counters of one engine. Non-matching flows leave nothing else behind.
public struct EngineCounters: Sendable, Equatable {
    /// Frames handed to the engine.
    public var packets = 0
    /// Their wire length in bytes.
    public var bytes = 0
    /// Frames decoded to a TCP or UDP packet.
    public var decodedPackets = 0
    /// Frames skipped, by reason (indexed by `PacketSkipReason.rawValue`).
    public var skipped = [Int](repeating: 0, count: PacketSkipReason.allCases.count)
    /// Decoded packets by the carriers they came through (indexed by `CarrierKind.rawValue`;
    /// a packet through several counts under each).
    public var carrierPackets = [Int](repeating: 0, count: CarrierKind.allCases.count)
    /// IP fragments and their datagrams, by outcome (indexed by `FragmentOutcome.rawValue`).
    public var fragments = [Int](repeating: 0, count: FragmentOutcome.allCases.count)
    /// Frames whose capture was shorter than their headers declare.
    public var truncatedPackets = 0
    /// Flows created.
    public var flowsCreated = 0
    /// Flows ended by idle timeout.
    public var flowsExpired = 0
    /// Flows evicted from a full table.
    public var flowsEvicted = 0
    /// Flows marked uninteresting (no P2P sign in their first bytes).
    public var flowsUninteresting = 0
    /// Flows recognised as P2P, by protocol (indexed by `P2PProtocol.rawValue`).
    public var p2pFlows = [Int](repeating: 0, count: P2PProtocol.allCases.count)
    /// Identifiers observed (matching or not).
    public var observations = 0
    /// `match` alerts raised.
    public var matches = 0
    /// Later sightings of an already matched identifier on the same flow.
    public var repeatSightings = 0
    /// Reassembly gaps declared (bytes lost before the reorder buffer could fill them).
    public var reassemblyGaps = 0
    /// TCP flows that no family recognised and whose both directions opened like a family's
    /// encrypted stream, by family (indexed by `Family.rawValue`): never a match, only a count.
    public var likelyEncryptedFlows = [Int](repeating: 0, count: Family.allCases.count)
    /// Anomalies met, by kind (indexed by `Anomaly.rawValue`).
    public var anomalies = [Int](repeating: 0, count: Anomaly.allCases.count)

    public init() {}

    /// Anomalies of `kind`.
    public func anomalies(_ kind: Anomaly) -> Int { anomalies[kind.rawValue] }

    /// Decoded packets that came through `kind`.
    public func carrierPackets(_ kind: CarrierKind) -> Int { carrierPackets[kind.rawValue] }

    /// Fragments or datagrams with `outcome`.
    public func fragments(_ outcome: FragmentOutcome) -> Int { fragments[outcome.rawValue] }

    /// Frames skipped for `reason`.
    public func skipped(_ reason: PacketSkipReason) -> Int { skipped[reason.rawValue] }

    /// Flows counted as likely encrypted streams of `family`.
    public func likelyEncryptedFlows(_ family: Family) -> Int { likelyEncryptedFlows[Int(family.rawValue)] }

    /// Flows recognised as `proto`.
    public func p2pFlows(_ proto: P2PProtocol) -> Int { p2pFlows[Int(proto.rawValue)] }

    /// Adds `other`'s counts to these (summing per-thread counters).
    public mutating func add(_ other: EngineCounters) {
        packets += other.packets
        bytes += other.bytes
        decodedPackets += other.decodedPackets
        for index in skipped.indices { skipped[index] += other.skipped[index] }
        for index in carrierPackets.indices { carrierPackets[index] += other.carrierPackets[index] }
        for index in fragments.indices { fragments[index] += other.fragments[index] }
        truncatedPackets += other.truncatedPackets
        flowsCreated += other.flowsCreated
        flowsExpired += other.flowsExpired
        flowsEvicted += other.flowsEvicted
        flowsUninteresting += other.flowsUninteresting
        for index in p2pFlows.indices { p2pFlows[index] += other.p2pFlows[index] }
        observations += other.observations
        matches += other.matches
        repeatSightings += other.repeatSightings
        reassemblyGaps += other.reassemblyGaps
        for index in likelyEncryptedFlows.indices { likelyEncryptedFlows[index] += other.likelyEncryptedFlows[index] }
        for index in anomalies.indices { anomalies[index] += other.anomalies[index] }
    }
}
