/// Packet in, events out: decodes each frame, keeps flows, runs the protocol decoders and
/// matches what they observe against the watch list.
///
/// One engine belongs to one worker thread and is driven by its packets' timestamps alone.
/// A flow that shows no P2P sign in its first bytes is marked uninteresting and from then on
/// costs a table lookup and two counter updates. The per-packet path allocates nothing, except
/// when a TCP segment arrives out of order (it is copied into a bounded reorder buffer) or a
/// flow is created while the table's storage grows.
public struct DetectionEngine {
    /// The tunables the engine was made with.
    public let configuration: EngineConfiguration
    /// The watch list in force; replace it between packets to reload.
    public var watchList: WatchListSnapshot
    /// Aggregate counters.
    public var counters: EngineCounters {
        var counters = tallies
        counters.anomalies = shared.anomalies
        return counters
    }
    private var tallies = EngineCounters()

    private var flows: FlowTable<FlowRecord>
    /// Observations of the packet at hand; reused, so it allocates only when a packet carries
    /// more identifiers than any before it.
    private var observations: [Observation] = []
    /// The budgets all flows share, and the anomalies their decoders met.
    private var shared: SharedBudgets
    /// Addresses seen in a matched flow, with how many likely-encrypted BitTorrent flows they
    /// had since. Only flagged addresses are counted: nothing is kept about anyone else.
    private var flaggedAddresses: [IPAddress: Int] = [:]
    /// Flagged addresses remembered at most (about 3 MiB).
    static let maxFlaggedAddresses = 65_536
    private var nextExpiry = Timestamp(microseconds: .min)
    private var latest = Timestamp(microseconds: .min)

    /// How often, in capture time, idle flows are looked for.
    static let expiryInterval: Int64 = 1_000_000
    /// The most flows looked at per expiry pass, so one packet never pays for a whole sweep.
    static let maxExpiryVisits = 4_096

    public init(configuration: EngineConfiguration = EngineConfiguration(), watchList: WatchListSnapshot = .empty) {
        self.configuration = configuration
        self.watchList = watchList
        flows = FlowTable(capacity: configuration.maxFlows, placeholder: FlowRecord.placeholder)
        observations.reserveCapacity(128)
        shared = SharedBudgets(configuration: configuration)
    }

    /// How many flows are tracked now.
    public var flowCount: Int { flows.count }

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
        tallies.packets &+= 1
        tallies.bytes &+= wireLength
        if timestamp > latest { latest = timestamp }
        if latest >= nextExpiry {
            expireIdleFlows(now: latest, events: &events)
            nextExpiry = latest.adding(seconds: 1)
        }
        let packet: DecodedPacket
        switch PacketDecoder.decode(frame, link: link) {
        case .success(let decoded): packet = decoded
        case .failure(let error):
            tallies.skipped[error.reason.rawValue] &+= 1
            return
        }
        tallies.decodedPackets &+= 1
        if packet.isTruncated { tallies.truncatedPackets &+= 1 }

        let (key, senderIsLow) = FlowKey.of(packet)
        let slot = flows.slot(of: key) ?? createFlow(key, senderIsLow: senderIsLow, packet: packet, at: timestamp, events: &events)
        flows.touch(slot, now: timestamp)
        let payload = UnsafeRawBufferPointer(rebasing: frame[packet.payloadOffset ..< packet.payloadOffset + packet.payloadLength])
        var direction = FlowDirection.toServer
        var flowID: UInt64 = 0
        var encryptedFlow = false
        observations.removeAll(keepingCapacity: true)
        flows.withValue(at: slot) { record, _ in
            direction = senderIsLow == record.initiatorIsLow ? .toServer : .toClient
            record.count(direction, wireLength: wireLength, at: timestamp)
            flowID = record.id
            guard record.phase != .uninteresting else { return }
            let sign: P2PProtocol?
            switch packet.transport {
            case .tcp:
                if packet.tcpFlags.contains(.fin) || packet.tcpFlags.contains(.rst) { record.isClosing = true }
                let gapsBefore = record.gaps
                sign = record.feedTCP(direction, packet: packet, payload: payload, budgets: &shared, into: &observations)
                tallies.reassemblyGaps &+= record.gaps - gapsBefore
            case .udp:
                sign = record.feedUDP(direction, packet: packet, payload: payload, budgets: &shared, into: &observations)
            }
            if let sign {
                if record.recognize(sign) { tallies.p2pFlows[Int(sign.rawValue)] &+= 1 }
                record.phase = .p2p
            }
            if packet.transport == .tcp, record.decideEncrypted() {
                tallies.likelyEncryptedBitTorrentFlows &+= 1
                encryptedFlow = true
            }
            if record.phase == .probing, record.isDoneProbing {
                record.phase = .uninteresting
                record.releaseBuffers()
                tallies.flowsUninteresting &+= 1
            } else if record.phase == .p2p, record.transport == .tcp, record.isDoneProbing {
                record.releaseBuffers()
            }
        }
        if encryptedFlow, !flaggedAddresses.isEmpty {
            for address in [packet.source, packet.destination] where flaggedAddresses[address] != nil {
                flaggedAddresses[address, default: 0] &+= 1
            }
        }
        guard !observations.isEmpty else { return }
        for index in observations.indices {
            tallies.observations &+= 1
            observe(observations[index], slot: slot, flowID: flowID, key: key, packet: packet, direction: direction, at: timestamp, events: &events)
        }
    }

    /// Moves the engine's clock to `now` without a packet (a quiet live link), expiring idle flows.
    public mutating func advanceClock(to now: Timestamp, events: inout [DetectionEvent]) {
        guard now > latest else { return }
        latest = now
        if latest >= nextExpiry {
            expireIdleFlows(now: latest, events: &events)
            nextExpiry = latest.adding(seconds: 1)
        }
    }

    /// Ends every flow (end of capture or shutdown): flagged flows produce their `flow_end`.
    public mutating func finish(events: inout [DetectionEvent]) {
        var ended: [(FlowKey, FlowRecord)] = []
        flows.removeAll { ended.append(($0, $1)) }
        for (key, record) in ended {
            end(record, key: key, reason: .shutdown, events: &events)
        }
    }

    private mutating func createFlow(
        _ key: FlowKey, senderIsLow: Bool, packet: DecodedPacket, at timestamp: Timestamp, events: inout [DetectionEvent]
    ) -> Int {
        if flows.isFull, let oldest = flows.oldestSlot, let (evictedKey, evicted) = flows.remove(oldest) {
            tallies.flowsEvicted &+= 1
            end(evicted, key: evictedKey, reason: .evicted, events: &events)
        }
        tallies.flowsCreated &+= 1
        // A SYN-ACK without its SYN: the receiver opened the connection.
        let synAck = packet.transport == .tcp && packet.tcpFlags.contains(.syn) && packet.tcpFlags.contains(.ack)
        let initiatorIsLow = synAck ? !senderIsLow : senderIsLow
        let record = FlowRecord(id: Self.flowID(key, start: timestamp), transport: packet.transport, initiatorIsLow: initiatorIsLow, start: timestamp)
        return flows.insert(key, value: record, now: timestamp)
    }

    private mutating func observe(
        _ observation: Observation, slot: Int, flowID: UInt64, key: FlowKey, packet: DecodedPacket,
        direction: FlowDirection, at timestamp: Timestamp, events: inout [DetectionEvent]
    ) {
        guard let hit = watchList.lookup(observation.contentID) else { return }
        // Matches are counted under the listed identifier (the full v2 id for a truncated sighting).
        let isFirst = flows.withValue(at: slot) { record, _ in
            if record.matched == nil { record.followPeerWireToEnd() }
            return record.noteMatch(hit.entry.id, proto: observation.proto)
        } ?? false
        guard isFirst else {
            tallies.repeatSightings &+= 1
            return
        }
        tallies.matches &+= 1
        for address in [packet.source, packet.destination] where flaggedAddresses[address] == nil {
            if flaggedAddresses.count < Self.maxFlaggedAddresses { flaggedAddresses[address] = 0 }
        }
        let source = Endpoint(address: packet.source, port: packet.sourcePort)
        let destination = Endpoint(address: packet.destination, port: packet.destinationPort)
        events.append(.match(MatchAlert(
            timestamp: timestamp, flowID: flowID, flowKey: key, source: source, destination: destination,
            direction: direction, observation: observation,
            subscriber: Subscriber.of(source: packet.source, destination: packet.destination, in: configuration.homeNetworks),
            hit: hit
        )))
    }

    private mutating func expireIdleFlows(now: Timestamp, events: inout [DetectionEvent]) {
        let configuration = configuration
        let shortest = min(configuration.tcpClosedTimeout, configuration.udpIdleTimeout, configuration.tcpIdleTimeout) * 1_000_000
        var expired: [(FlowKey, FlowRecord)] = []
        flows.expire(now: now, shortestTimeout: shortest, maxVisits: Self.maxExpiryVisits, timeout: { record in
            record.idleTimeout(configuration) * 1_000_000
        }, expired: { key, record in
            expired.append((key, record))
        })
        for (key, record) in expired {
            tallies.flowsExpired &+= 1
            end(record, key: key, reason: .timeout, events: &events)
        }
    }

    private mutating func end(_ record: FlowRecord, key: FlowKey, reason: FlowEndReason, events: inout [DetectionEvent]) {
        shared.metadataBytes += record.bittorrent?.exchange.bytesHeld ?? 0
        shared.httpBodyBytes += record.httpBodyBytesHeld
        guard let matched = record.matched, !matched.isEmpty else { return }
        let pieces = record.pieceBytes
        let exchange = record.bittorrent?.exchange
        let (initiator, responder) = record.initiatorIsLow ? (key.low, key.high) : (key.high, key.low)
        events.append(.flowEnd(FlowSummary(
            flowID: record.id, flowKey: key, initiator: initiator, responder: responder, proto: record.proto,
            start: record.start, end: record.lastSeen,
            packetsToServer: record.packetsToServer, packetsToClient: record.packetsToClient,
            bytesToServer: record.bytesToServer, bytesToClient: record.bytesToClient,
            reason: reason, matched: matched,
            pieceBytesToServer: pieces.toServer, pieceBytesToClient: pieces.toClient,
            initiatorClient: exchange?.initiatorClient, responderClient: exchange?.responderClient, torrent: exchange?.verified,
            encryptedFlowsOfInitiator: flaggedAddresses[initiator.address] ?? 0,
            encryptedFlowsOfResponder: flaggedAddresses[responder.address] ?? 0,
            subscriber: Subscriber.of(source: initiator.address, destination: responder.address, in: configuration.homeNetworks)
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
