/// Packet in, events out: decodes each frame, keeps flows, offers their first bytes to the
/// protocol families, runs the decoder of the family that recognised a flow, and matches what
/// it observes against the watch list.
///
/// One engine belongs to one worker thread and is driven by its packets' timestamps alone. It
/// names no protocol family: they are reached through `FamilyPools` and the seam's types.
/// Every flow has a plain-data slot in the flow table; a TCP flow has reassembly state and a
/// probe while its first bytes are looked at, and decoder state only once a family recognised
/// it. A flow no family recognised costs a table lookup and counter updates from then on. The
/// per-packet path allocates nothing once warm, except when a TCP segment arrives out of order
/// (it is copied into a bounded reorder buffer), when a family's decoder collects a message
/// across segments, or when a flow is flagged.
public struct DetectionEngine {
    /// The tunables the engine was made with.
    public let configuration: EngineConfiguration
    /// The watch list in force; replace it between packets to reload.
    public var watchList: WatchListSnapshot

    /// Aggregate counters.
    public var counters: EngineCounters {
        var counters = tallies
        counters.anomalies = context.budgets.anomalies
        counters.fragments = fragments.counters
        counters.skipped[PacketSkipReason.fragment.rawValue] &+= fragments.framesGivenUp
        return counters
    }
    private var tallies = EngineCounters()

    private var flows: FlowTable
    private var streams = Pool(empty: StreamPair())
    private var families = FamilyPools()
    private var context: DecodeContext
    private var fragments: FragmentReassembler
    /// While a reassembled datagram is taken: the frame of its last fragment and that fragment
    /// as decoded (to work out the datagram's carrier for a record), and how deep reassembly is.
    private var reassembly: (frame: UnsafeRawBufferPointer, fragment: DecodedPacket)?
    private var reassemblyDepth = 0
    /// What is kept of each flagged flow (by slot): its id and the identifiers it matched.
    private var flagged: [UInt32: FlaggedFlow] = [:]
    /// The encrypted flows of flagged addresses, when this engine keeps them itself
    /// (`EngineConfiguration.tallyFlaggedAddresses`).
    private var tally = FlaggedAddressTally()
    private var nextExpiry = Timestamp(microseconds: .min)
    private var latest = Timestamp(microseconds: .min)

    /// How often, in capture time, idle flows are looked for.
    static let expiryInterval: Int64 = 1_000_000
    /// Packets of a probing flow after which it is let go whatever its families say.
    static let maxProbingPackets: UInt32 = 256

    /// The two directions of a TCP flow's reassembly.
    struct StreamPair {
        var toServer = StreamReassembler()
        var toClient = StreamReassembler()
    }

    /// What the engine keeps of a flow that matched.
    struct FlaggedFlow {
        var flowID: UInt64
        var matched: [MatchedIdentifier] = []
        /// How the packet of its first match arrived (nil when plainly).
        var carrier: Carrier?
    }

    public init(configuration: EngineConfiguration = EngineConfiguration(), watchList: WatchListSnapshot = .empty) {
        self.configuration = configuration
        self.watchList = watchList
        flows = FlowTable(capacity: configuration.maxFlows, seed: configuration.flowHashSeed)
        context = DecodeContext(configuration: configuration)
        fragments = FragmentReassembler(limits: configuration.fragmentLimits)
    }

    /// How many flows are tracked now.
    public var flowCount: Int { flows.count }

    /// Bytes the engine's per-flow structures take: the flow slots (reserved), the index, the
    /// reassembly pool and the families' pools (entries inline; buffers they hold not counted).
    public var footprint: FlowFootprint {
        let table = flows.footprint
        return FlowFootprint(slots: table.slots, index: table.index, streams: streams.footprint, decoders: families.footprint)
    }

    /// What the engine holds for the flow of `key`: its phase, whether it has reassembly and
    /// probe or decoder state, and the family that recognised it (for tests and diagnostics).
    func state(of key: FlowKey) -> (phase: FlowSlot.Phase, hasStreams: Bool, hasState: Bool, family: Family?)? {
        guard let index = flows.find(key, hash: key.fastHash(seed: configuration.flowHashSeed)) else { return nil }
        let slot = flows[index]
        return (slot.phase, slot.streams != .none, slot.state != .none, slot.phase == .recognised ? Family(rawValue: slot.family) : nil)
    }

    /// Entries in use in the reassembly, probe and decoder pools (for tests).
    var poolsInUse: (streams: Int, probes: Int, decoders: Int) {
        (streams.count, families.probes.count, families.decodersInUse)
    }

    /// Asks the processor for the flow-table index entry of a packet a few ahead (its hash as
    /// `take` gets it): a worker's batch loop overlaps the cache misses of several packets.
    /// (Mutating only so that a caller holding the engine in a class property reaches it in
    /// place instead of copying it.)
    @inline(__always)
    public mutating func prefetchIndex(hash: UInt64) { flows.prefetchIndex(hash: hash) }

    /// Asks for the flow slot of a packet a little ahead, whose index entry was asked for before.
    @inline(__always)
    public mutating func prefetchSlot(hash: UInt64) { flows.prefetchSlot(hash: hash) }

    /// Processes one captured frame.
    /// - Parameters:
    ///   - frame: the captured bytes (borrowed; not kept past the call).
    ///   - wireLength: the frame's length on the wire (≥ `frame.count` when cut by snaplen).
    ///   - timestamp: capture time.
    ///   - link: the capture's link type.
    ///   - events: receives alerts and flow records, in order.
    public mutating func process(
        frame: UnsafeRawBufferPointer, wireLength: Int, timestamp: Timestamp, link: LinkType,
        events: inout [DetectionEvent]
    ) {
        if timestamp > latest { latest = timestamp }
        if latest >= nextExpiry {
            expire(now: latest, events: &events)
            nextExpiry = latest.adding(seconds: 1)
        }
        switch PacketDecoder.decode(frame, link: link, options: configuration.carriers) {
        case .success(let packet):
            take(packet, frame: frame, wireLength: wireLength, timestamp: timestamp, hash: nil, events: &events)
        case .failure(let error):
            takeUndecodable(error.reason, wireLength: wireLength)
        }
    }

    /// Counts a frame that did not decode (a pipeline's reader decoded it).
    public mutating func takeUndecodable(_ reason: PacketSkipReason, wireLength: Int) {
        tallies.packets &+= 1
        tallies.bytes &+= wireLength
        tallies.skipped[reason.rawValue] &+= 1
    }

    /// Processes a frame a pipeline's reader decoded already (and hashed, with this engine's
    /// seed), without looking at the clock: the reader calls `expire(now:events:)` for it.
    /// - Parameter hash: `FlowKey.of(packet).key.fastHash(seed:)`, or `nil` to compute it.
    public mutating func take(
        _ packet: DecodedPacket, frame: UnsafeRawBufferPointer, wireLength: Int, timestamp: Timestamp, hash: UInt64?,
        events: inout [DetectionEvent]
    ) {
        let eventsBefore = events.count
        defer { if configuration.tallyFlaggedAddresses, events.count > eventsBefore { tally.apply(&events, from: eventsBefore) } }
        tallies.packets &+= 1
        tallies.bytes &+= wireLength
        if packet.fragment.isFragment {
            takeFragment(packet, frame: frame, wireLength: wireLength, timestamp: timestamp, events: &events)
            return
        }
        takeDecoded(packet, frame: frame, wireLength: wireLength, timestamp: timestamp, hash: hash, events: &events)
    }

    /// Hands a fragment to the reassembler; a datagram it completes is taken like a packet,
    /// with the wire bytes of all its fragments. A fragment inside a reassembled datagram is
    /// reassembled too, one level deep; deeper ones are given up.
    private mutating func takeFragment(_ packet: DecodedPacket, frame: UnsafeRawBufferPointer, wireLength: Int, timestamp: Timestamp, events: inout [DetectionEvent]) {
        guard reassemblyDepth < 2 else {
            tallies.skipped[PacketSkipReason.fragment.rawValue] &+= 1
            return
        }
        let key = FragmentReassembler.Key(source: packet.source, destination: packet.destination, identification: packet.fragment.identification,
                                          proto: packet.fragment.proto, zone: packet.zone)
        let data = UnsafeRawBufferPointer(rebasing: frame[packet.payloadOffset ..< packet.payloadOffset + packet.payloadLength])
        guard let done = fragments.insert(key, offset: packet.fragment.offset, more: packet.fragment.more, data: data, truncated: packet.isTruncated,
                                          wireLength: wireLength, at: timestamp) else { return }
        let datagram = fragments.completed
        var discard = Carrier.Discard()
        datagram.withUnsafeBytes { payload in
            switch PacketDecoder.decodeReassembled(payload, proto: done.proto, first: packet, options: configuration.carriers, recorder: &discard) {
            case .success(let inner):
                let outer = reassembly
                reassembly = (frame, packet)
                reassemblyDepth += 1
                defer {
                    reassembly = outer
                    reassemblyDepth -= 1
                }
                // The fragment frames count as decoded once their datagram is.
                if inner.fragment.isFragment {
                    tallies.decodedPackets &+= done.fragments
                    takeFragment(inner, frame: payload, wireLength: done.wireBytes, timestamp: timestamp, events: &events)
                } else {
                    takeDecoded(inner, frame: payload, wireLength: done.wireBytes, timestamp: timestamp, hash: nil, frames: done.fragments, events: &events)
                }
            case .failure(let error):
                tallies.skipped[error.reason.rawValue] &+= done.fragments
            }
        }
    }

    private mutating func takeDecoded(
        _ packet: DecodedPacket, frame: UnsafeRawBufferPointer, wireLength: Int, timestamp: Timestamp, hash: UInt64?, frames: Int = 1,
        events: inout [DetectionEvent]
    ) {
        tallies.decodedPackets &+= frames
        if packet.isTruncated { tallies.truncatedPackets &+= 1 }
        if packet.carriers.rawValue != 0 { countCarriers(packet.carriers, frames: frames) }

        let (key, senderIsLow) = FlowKey.of(packet)
        let hash = hash ?? key.fastHash(seed: configuration.flowHashSeed)
        let slotIndex = flows.find(key, hash: hash) ?? createFlow(key, hash: hash, senderIsLow: senderIsLow, packet: packet, at: timestamp, events: &events)
        var slot = flows[slotIndex]
        slot.lastSeen = timestamp.microseconds
        let direction = senderIsLow == slot.flags.contains(.initiatorIsLow) ? FlowDirection.toServer : .toClient
        switch direction {
        case .toServer:
            slot.packetsToServer &+= 1
            slot.bytesToServer &+= UInt64(wireLength)
        case .toClient:
            slot.packetsToClient &+= 1
            slot.bytesToClient &+= UInt64(wireLength)
        }
        // A FIN or RST ends any flow on the short timeout, whatever its phase.
        if packet.transport == .tcp, packet.tcpFlags.contains(.fin) || packet.tcpFlags.contains(.rst) { slot.flags.insert(.closing) }
        guard slot.phase != .passive else {
            flows[slotIndex] = slot
            return
        }
        let payload = UnsafeRawBufferPointer(rebasing: frame[packet.payloadOffset ..< packet.payloadOffset + packet.payloadLength])
        context.reset()
        let ports = PortPair(source: packet.sourcePort, destination: packet.destinationPort)
        var encryptedFlow = false
        switch packet.transport {
        case .tcp:
            let source = Endpoint(address: packet.source, port: packet.sourcePort), destination = Endpoint(address: packet.destination, port: packet.destinationPort)
            context.endpoints = direction == .toServer ? (source, destination) : (destination, source)
            let decideOpenings = noteOpening(&slot, payload: payload, direction: direction)
            let startedMidStream = feedTCP(&slot, packet: packet, payload: payload, direction: direction)
            if decideOpenings, let family = encryptedOpening(of: slot, startedMidStream: startedMidStream) {
                tallies.likelyEncryptedFlows[Int(family.rawValue)] &+= 1
                slot.flags.insert(.likelyEncrypted)
                encryptedFlow = true
            }
            if let family = context.encryptedStream, !slot.flags.contains(.likelyEncrypted) {
                tallies.likelyEncryptedFlows[Int(family.rawValue)] &+= 1
                slot.flags.insert(.likelyEncrypted)
                encryptedFlow = true
            }
        case .udp:
            feedUDP(&slot, payload: payload, direction: direction, ports: ports)
        }
        if let sign = context.sign {
            let bit: UInt16 = 1 << sign.rawValue
            if slot.firstProtocol == 0 { slot.firstProtocol = sign.rawValue &+ 1 }
            if slot.protocolsSeen & bit == 0 {
                slot.protocolsSeen |= bit
                tallies.p2pFlows[Int(sign.rawValue)] &+= 1
            }
        }
        settle(&slot, transport: packet.transport)
        flows[slotIndex] = slot
        if encryptedFlow { events.append(.likelyEncrypted(packet.source, packet.destination)) }
        guard !context.observations.isEmpty else { return }
        for index in context.observations.indices {
            tallies.observations &+= 1
            observe(context.observations[index], slot: slotIndex, packet: packet, frame: frame, direction: direction, at: timestamp, events: &events)
        }
    }

    /// How `packet` arrived: its frame's layers, or for a reassembled datagram its last
    /// fragment's layers and then those inside the datagram.
    private func carrier(of packet: DecodedPacket, frame: UnsafeRawBufferPointer) -> Carrier {
        guard packet.isReassembled, let (outerFrame, fragment) = reassembly else {
            return PacketDecoder.carrier(of: frame, link: packet.link, options: configuration.carriers)
        }
        var carrier = PacketDecoder.carrier(of: outerFrame, link: fragment.link, options: configuration.carriers)
        _ = PacketDecoder.decodeReassembled(frame, proto: fragment.fragment.proto, first: fragment, options: configuration.carriers, recorder: &carrier)
        carrier.reassembled = true
        return carrier
    }

    /// Counts a packet under each carrier it came through.
    private mutating func countCarriers(_ carriers: CarrierSet, frames: Int) {
        var bits = carriers.rawValue
        while bits != 0 {
            let kind = bits.trailingZeroBitCount
            if kind < tallies.carrierPackets.count { tallies.carrierPackets[kind] &+= frames }
            bits &= bits &- 1
        }
    }

    /// Notes how a direction's first payload opens; returns whether both directions have now
    /// opened (the moment to decide, once, whether the flow looks encrypted).
    private func noteOpening(_ slot: inout FlowSlot, payload: UnsafeRawBufferPointer, direction: FlowDirection) -> Bool {
        guard !payload.isEmpty else { return false }
        let shift: UInt8 = direction == .toServer ? 0 : 4
        guard (slot.openings >> shift) & 0xF == 0 else { return false }
        let opening: UInt8 = FamilyPools.encryptedOpening(payload).map { $0.rawValue &+ 1 } ?? 0xF
        slot.openings |= opening << shift
        return slot.openings & 0xF != 0 && slot.openings >> 4 != 0
    }

    /// The family whose encrypted stream both directions opened like, for a flow no family
    /// recognised and that was seen from its start.
    private func encryptedOpening(of slot: FlowSlot, startedMidStream: Bool) -> Family? {
        let toServer = slot.openings & 0xF, toClient = slot.openings >> 4
        guard slot.firstProtocol == 0, !startedMidStream, toServer == toClient, toServer != 0xF else { return nil }
        return Family(rawValue: toServer &- 1)
    }

    /// Reassembles a TCP segment and hands what comes out in order to the probe or decoder.
    /// - Returns: whether the flow was picked up without its opening (no SYN to the server).
    private mutating func feedTCP(_ slot: inout FlowSlot, packet: DecodedPacket, payload: UnsafeRawBufferPointer, direction: FlowDirection) -> Bool {
        if slot.streams == .none { slot.streams = streams.allocate(StreamPair()) }
        if slot.phase == .probing, slot.state == .none, !payload.isEmpty { slot.state = families.startProbe() }
        // Out of the pool while it calls back, so that the callback may use the engine.
        var pair = streams.release(slot.streams)
        let gapsBefore = pair.toServer.gapCount + pair.toClient.gapCount
        var finished = false, exhausted = false
        let deliver: (StreamChunk) -> Void = { chunk in
            switch slot.phase {
            case .passive, .free:
                return
            case .probing:
                if slot.state == .none { slot.state = self.families.startProbe() }
                switch self.families.probe(slot.state, chunk, direction: direction, context: &self.context) {
                case .undecided:
                    break
                case .exhausted:
                    // The probe is gone; the rest of the flow goes below.
                    slot.state = .none
                    slot.phase = .passive
                    exhausted = true
                case .recognised(let family, let index, let consumed):
                    slot.phase = .recognised
                    slot.family = family.rawValue
                    slot.state = index
                    if !consumed { finished = self.families.decode(family, index, chunk, direction: direction, context: &self.context) }
                }
            case .recognised:
                guard let family = Family(rawValue: slot.family) else { return }
                finished = self.families.decode(family, slot.state, chunk, direction: direction, context: &self.context)
            }
        }
        switch direction {
        case .toServer: pair.toServer.receive(sequence: packet.sequenceNumber, flags: packet.tcpFlags, payload: payload, deliver: deliver)
        case .toClient: pair.toClient.receive(sequence: packet.sequenceNumber, flags: packet.tcpFlags, payload: payload, deliver: deliver)
        }
        tallies.reassemblyGaps &+= pair.toServer.gapCount + pair.toClient.gapCount - gapsBefore
        let startedMidStream = pair.toServer.startedMidStream
        slot.streams = streams.allocate(pair)
        if exhausted || finished && !slot.flags.contains(.flagged) { letGo(&slot, transport: .tcp) }
        // Bounds: a flow that shows nothing within them, or whose other side stays silent, is let go.
        if slot.phase == .probing {
            let packets = slot.packetsToServer &+ slot.packetsToClient
            let oneWay = slot.packetsToServer == 0 || slot.packetsToClient == 0
            if packets > Self.maxProbingPackets || oneWay && packets > UInt32(ProbingBounds.maxOneWayPackets) { letGo(&slot, transport: .tcp) }
        }
        return startedMidStream
    }

    /// Offers a UDP datagram to the families, or decodes it with the one that holds the flow.
    private mutating func feedUDP(_ slot: inout FlowSlot, payload: UnsafeRawBufferPointer, direction: FlowDirection, ports: PortPair) {
        if slot.phase == .probing {
            let isFirst = slot.packetsToServer &+ slot.packetsToClient == 1
            switch families.probeDatagram(payload, isFirst: isFirst, direction: direction, ports: ports, context: &context) {
            case .undecided, .recognised(_, _, consumed: true):
                break
            case .recognised(let family, let index, consumed: false):
                slot.phase = .recognised
                slot.family = family.rawValue
                slot.state = index
            case .exhausted:
                letGo(&slot, transport: .udp)
                return
            }
        }
        var understood = false
        if slot.phase == .recognised, let family = Family(rawValue: slot.family) {
            understood = families.decodeDatagram(family, slot.state, payload, direction: direction, ports: ports,
                                                 protocolsSeen: slot.protocolsSeen, context: &context)
        }
        if !understood, slot.unrecognisedDatagrams < .max { slot.unrecognisedDatagrams &+= 1 }
    }

    /// After a packet: a UDP flow that showed no protocol within its bounds is let go.
    private mutating func settle(_ slot: inout FlowSlot, transport: TransportProtocol) {
        if transport == .udp, slot.firstProtocol == 0, slot.unrecognisedDatagrams >= ProbingBounds.maxUnrecognisedDatagrams, !slot.flags.contains(.flagged) {
            letGo(&slot, transport: .udp)
        }
    }

    /// Makes a flow passive: its probe or decoder state and its reassembly go back to their pools.
    private mutating func letGo(_ slot: inout FlowSlot, transport: TransportProtocol) {
        if slot.state != .none {
            switch slot.phase {
            case .probing: families.releaseProbe(slot.state)
            case .recognised:
                if let family = Family(rawValue: slot.family) {
                    _ = families.release(family, slot.state, transport: transport, firstProtocol: slot.firstProtocolValue, budgets: &context.budgets)
                }
            case .passive, .free: break
            }
            slot.state = .none
        }
        if slot.streams != .none {
            streams.release(slot.streams)
            slot.streams = .none
        }
        // A flow let go without ever showing a protocol is uninteresting, whether no family
        // claimed it or one took it as framing and found nothing in it.
        if slot.firstProtocol == 0 { tallies.flowsUninteresting &+= 1 }
        slot.phase = .passive
    }

    /// Moves the engine's clock to `now` without a packet (a quiet live link), expiring idle flows.
    public mutating func advanceClock(to now: Timestamp, events: inout [DetectionEvent]) {
        guard now > latest else { return }
        latest = now
        if latest >= nextExpiry {
            expire(now: latest, events: &events)
            nextExpiry = latest.adding(seconds: 1)
        }
    }

    /// Ends the flows idle past their timeout at `now`; flagged ones in the order of their last
    /// packet (then flow id), so that their `flow_end` records come in an order that depends on
    /// the capture alone. The engine calls it once a second of capture time; a pipeline whose
    /// reader keeps the clock calls it at the same moments.
    public mutating func expire(now: Timestamp, events: inout [DetectionEvent]) {
        fragments.expire(now: now)
        let eventsBefore = events.count
        expireIdleFlows(now: now, events: &events)
        if configuration.tallyFlaggedAddresses, events.count > eventsBefore { tally.apply(&events, from: eventsBefore) }
    }

    /// Ends every flow (end of capture or shutdown), each as it is removed: flagged flows
    /// produce their `flow_end`, in the order of their last packet (then flow id).
    public mutating func finish(events: inout [DetectionEvent]) {
        fragments.finish()
        let eventsBefore = events.count
        var flaggedSlots: [Int] = []
        // Every flow goes, so the index is emptied at once rather than entry by entry.
        for slotIndex in 0 ..< flows.highWater where flows[slotIndex].phase != .free {
            if flows[slotIndex].flags.contains(.flagged) {
                flaggedSlots.append(slotIndex)
            } else {
                close(flows[slotIndex], slot: slotIndex, reason: .shutdown, events: &events)
            }
        }
        for slotIndex in inEndOrder(flaggedSlots) { close(flows[slotIndex], slot: slotIndex, reason: .shutdown, events: &events) }
        flows.removeAll()
        if configuration.tallyFlaggedAddresses, events.count > eventsBefore { tally.apply(&events, from: eventsBefore) }
    }

    /// Flagged flows' slots in the order their records go out: by last packet, then flow id.
    private func inEndOrder(_ slots: [Int]) -> [Int] {
        guard slots.count > 1 else { return slots }
        return slots.map { ($0, flows[$0].lastSeen, flagged[UInt32($0)]?.flowID ?? 0) }
            .sorted { ($0.1, $0.2) < ($1.1, $1.2) }
            .map(\.0)
    }

    private mutating func createFlow(
        _ key: FlowKey, hash: UInt64, senderIsLow: Bool, packet: DecodedPacket, at timestamp: Timestamp, events: inout [DetectionEvent]
    ) -> Int {
        if flows.isFull, let victim = flows.evictionCandidate() {
            tallies.flowsEvicted &+= 1
            end(victim, reason: .evicted, events: &events)
        }
        tallies.flowsCreated &+= 1
        // A SYN-ACK without its SYN: the receiver opened the connection.
        let synAck = packet.transport == .tcp && packet.tcpFlags.contains(.syn) && packet.tcpFlags.contains(.ack)
        let initiatorIsLow = synAck ? !senderIsLow : senderIsLow
        let index = flows.insert(key, hash: hash, start: timestamp.microseconds)
        if initiatorIsLow { flows[index].flags.insert(.initiatorIsLow) }
        return index
    }

    private mutating func observe(
        _ observation: Observation, slot slotIndex: Int, packet: DecodedPacket, frame: UnsafeRawBufferPointer, direction: FlowDirection,
        at timestamp: Timestamp, events: inout [DetectionEvent]
    ) {
        guard let hit = watchList.lookup(observation.contentID) else { return }
        let number = UInt32(slotIndex)
        if !flows[slotIndex].flags.contains(.flagged) {
            let slot = flows[slotIndex]
            flows[slotIndex].flags.insert(.flagged)
            // How the packet arrived is worked out again from its frame, now that a record needs it.
            let carrier = packet.carriers.rawValue == 0 && !packet.isReassembled ? nil : carrier(of: packet, frame: frame)
            flagged[number] = FlaggedFlow(flowID: Self.flowID(slot.key, start: Timestamp(microseconds: slot.start)), carrier: carrier)
            if slot.phase == .recognised, let family = Family(rawValue: slot.family) {
                families.followToEnd(family, slot.state, transport: slot.key.transport)
            }
        }
        // Matches are counted under the listed identifier (the full v2 id for a truncated sighting).
        let id = hit.entry.id
        var isFirst = true
        if let index = flagged[number]?.matched.firstIndex(where: { $0.id == id && $0.proto == observation.proto }) {
            flagged[number]?.matched[index].sightings += 1
            isFirst = false
        } else {
            flagged[number]?.matched.append(MatchedIdentifier(id: id, proto: observation.proto, sightings: 1))
        }
        guard isFirst, let flowID = flagged[number]?.flowID else {
            tallies.repeatSightings &+= 1
            return
        }
        tallies.matches &+= 1
        let source = Endpoint(address: packet.source, port: packet.sourcePort)
        let destination = Endpoint(address: packet.destination, port: packet.destinationPort)
        events.append(.match(MatchAlert(
            timestamp: timestamp, flowID: flowID, flowKey: flows[slotIndex].key, source: source, destination: destination,
            direction: direction, observation: observation,
            subscriber: Subscriber.of(source: packet.source, destination: packet.destination, in: configuration.homeNetworks),
            hit: hit, carrier: flagged[number]?.carrier
        )))
    }

    /// Sweeps the slots for flows idle past their timeout (sequential reads, once a second).
    private mutating func expireIdleFlows(now: Timestamp, events: inout [DetectionEvent]) {
        let shortest = min(configuration.tcpClosedTimeout, configuration.udpIdleTimeout, configuration.tcpIdleTimeout) * 1_000_000
        var flaggedSlots: [Int] = []
        for slotIndex in 0 ..< flows.highWater {
            let slot = flows[slotIndex]
            guard slot.phase != .free else { continue }
            let idle = now.microseconds &- slot.lastSeen
            guard idle > shortest, idle > idleTimeout(slot) * 1_000_000 else { continue }
            tallies.flowsExpired &+= 1
            if slot.flags.contains(.flagged) {
                flaggedSlots.append(slotIndex)
            } else {
                end(slotIndex, reason: .timeout, events: &events)
            }
        }
        for slotIndex in inEndOrder(flaggedSlots) { end(slotIndex, reason: .timeout, events: &events) }
    }

    /// Idle seconds after which a flow expires.
    private func idleTimeout(_ slot: FlowSlot) -> Int64 {
        switch slot.key.transport {
        case .udp: configuration.udpIdleTimeout
        case .tcp: slot.flags.contains(.closing) ? configuration.tcpClosedTimeout : configuration.tcpIdleTimeout
        }
    }

    /// Removes a flow, gives its states back, and for a flagged flow writes its `flow_end`.
    private mutating func end(_ slotIndex: Int, reason: FlowEndReason, events: inout [DetectionEvent]) {
        close(flows.remove(slotIndex), slot: slotIndex, reason: reason, events: &events)
    }

    /// Gives a flow's states back and, for a flagged flow, writes its `flow_end`.
    private mutating func close(_ slot: FlowSlot, slot slotIndex: Int, reason: FlowEndReason, events: inout [DetectionEvent]) {
        var summaryContext = FamilyPools.flowEndContext(slot.firstProtocolValue)
        if slot.state != .none {
            switch slot.phase {
            case .probing: families.releaseProbe(slot.state)
            case .recognised:
                if let family = Family(rawValue: slot.family) {
                    summaryContext = families.release(family, slot.state, transport: slot.key.transport, firstProtocol: slot.firstProtocolValue,
                                                      budgets: &context.budgets)
                }
            case .passive, .free: break
            }
        }
        if slot.streams != .none { streams.release(slot.streams) }
        guard slot.flags.contains(.flagged), let record = flagged.removeValue(forKey: UInt32(slotIndex)), !record.matched.isEmpty else { return }
        let key = slot.key
        let (initiator, responder) = slot.flags.contains(.initiatorIsLow) ? (key.low, key.high) : (key.high, key.low)
        events.append(.flowEnd(FlowSummary(
            flowID: record.flowID, flowKey: key, initiator: initiator, responder: responder, proto: slot.firstProtocolValue,
            start: Timestamp(microseconds: slot.start), end: Timestamp(microseconds: slot.lastSeen),
            packetsToServer: Int(slot.packetsToServer), packetsToClient: Int(slot.packetsToClient),
            bytesToServer: Int(slot.bytesToServer), bytesToClient: Int(slot.bytesToClient),
            reason: reason, matched: record.matched, context: summaryContext,
            encryptedFlowsOfInitiator: 0, encryptedFlowsOfResponder: 0,
            subscriber: Subscriber.of(source: initiator.address, destination: responder.address, in: configuration.homeNetworks),
            carrier: record.carrier
        )))
    }

    /// A flow id as Suricata makes them: a stable hash of the key and start time, kept within
    /// 51 bits so JSON readers that use doubles read it exactly.
    static func flowID(_ key: FlowKey, start: Timestamp) -> UInt64 {
        var hash = key.stableHash ^ UInt64(bitPattern: start.microseconds) &* 0x9E37_79B9_7F4A_7C15
        hash ^= hash >> 29
        return hash & 0x0007_FFFF_FFFF_FFFF
    }
}

extension FlowSlot {
    /// The first P2P protocol recognised on the flow, if any.
    var firstProtocolValue: P2PProtocol? {
        firstProtocol == 0 ? nil : P2PProtocol(rawValue: firstProtocol &- 1)
    }
}
