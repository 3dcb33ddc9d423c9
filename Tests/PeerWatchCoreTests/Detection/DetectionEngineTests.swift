import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

@Suite struct DetectionEngineTests {
    static let listed: [UInt8] = Hex.decode("dcfcdccfb9e670ccc3dd40c78c161f2bea243126") ?? []
    static let unlisted: [UInt8] = Hex.decode("0f6b9cd2b7da4de9b6c846203920e3da49cdb795") ?? []
    static let subscriber = Endpoint(address: IPAddress("198.51.100.23") ?? IPAddress(ipv4: 0), port: 51_413)
    static let peer = Endpoint(address: IPAddress("203.0.113.5") ?? IPAddress(ipv4: 0), port: 6_881)
    static let start = Timestamp(seconds: 1_795_000_000, microseconds: 0)

    static var watchList: WatchListSnapshot {
        let id = ContentID(kind: .btih, bytes: listed)
        return WatchListSnapshot(
            sources: [WatchListSource(name: "test-list", path: "test-list.txt", sha256: String(repeating: "ab", count: 32))],
            entries: id.map { [WatchListEntry(id: $0, sourceIndex: 0, label: "series 17", category: "1", line: 3)] } ?? []
        )
    }

    static func handshake(_ hash: [UInt8], tag: String) -> [UInt8] {
        var random = SeededGenerator(seed: 1)
        return BitTorrentFixtures.handshake(infoHash: hash, peerID: BitTorrentFixtures.peerID(clientTag: tag, using: &random))
    }

    func run(_ frames: [Frame], configuration: EngineConfiguration = EngineConfiguration(), finish: Bool = true)
        -> (events: [DetectionEvent], counters: EngineCounters)
    {
        var engine = DetectionEngine(configuration: configuration, watchList: Self.watchList)
        var events: [DetectionEvent] = []
        for frame in frames {
            frame.bytes.withUnsafeBytes { raw in
                engine.process(frame: raw, wireLength: frame.wireLength, timestamp: frame.timestamp, link: .ethernet, events: &events)
            }
        }
        if finish { engine.finish(events: &events) }
        return (events, engine.counters)
    }

    func matches(_ events: [DetectionEvent]) -> [MatchAlert] {
        events.compactMap { if case .match(let m) = $0 { m } else { nil } }
    }

    func flowEnds(_ events: [DetectionEvent]) -> [FlowSummary] {
        events.compactMap { if case .flowEnd(let f) = $0 { f } else { nil } }
    }

    func conversation() -> TCPConversation {
        TCPConversation(client: Self.subscriber, server: Self.peer, start: Self.start)
    }

    @Test func handshakeBothWaysRaisesOneMatchThenCountsSightings() throws {
        var tcp = conversation()
        var frames = tcp.open()
        frames += tcp.send(fromClient: true, Self.handshake(Self.listed, tag: "-TR3000-"))
        let completing = frames.last?.timestamp
        frames += tcp.send(fromClient: false, Self.handshake(Self.listed, tag: "-qB4630-"))
        frames += tcp.close()
        var configuration = EngineConfiguration()
        configuration.homeNetworks = [IPNetwork("198.51.100.0/24")].compactMap { $0 }
        let (events, counters) = run(frames, configuration: configuration)

        let alerts = matches(events)
        try #require(alerts.count == 1)
        let alert = alerts[0]
        #expect(alert.timestamp == completing)
        #expect(alert.source == Self.subscriber)
        #expect(alert.destination == Self.peer)
        #expect(alert.direction == .toServer)
        #expect(alert.observation.proto == .bittorrent)
        #expect(alert.observation.message == .handshake)
        #expect(alert.observation.role == .seeking)
        #expect(alert.observation.contentID.hex == "dcfcdccfb9e670ccc3dd40c78c161f2bea243126")
        #expect(alert.observation.peerID?.azureusClientTag == "-TR3000-")
        #expect(alert.subscriber == .source)
        #expect(alert.hit.entry.label == "series 17")
        #expect(alert.hit.entry.category == "1")
        #expect(alert.hit.source.name == "test-list")
        // A flow id is below 2^51 (exact in a double) and the same in every record of the flow.
        #expect(alert.flowID < 1 << 51)

        let ends = flowEnds(events)
        try #require(ends.count == 1)
        let end = ends[0]
        #expect(end.flowID == alert.flowID)
        #expect(end.initiator == Self.subscriber)
        #expect(end.responder == Self.peer)
        #expect(end.matched == [MatchedIdentifier(id: alert.observation.contentID, proto: .bittorrent, sightings: 2)])
        #expect(end.packetsToServer == 5)
        #expect(end.packetsToClient == 3)  // SYN-ACK, handshake, FIN
        #expect(end.reason == .shutdown)
        #expect(end.start == Self.start)
        #expect(end.proto == .bittorrent)

        #expect(counters.matches == 1)
        #expect(counters.repeatSightings == 1)
        #expect(counters.observations == 2)
        #expect(counters.p2pFlows(.bittorrent) == 1)
    }

    @Test func answeringSideIsOffering() throws {
        var tcp = conversation()
        var frames = tcp.open()
        frames += tcp.send(fromClient: true, Self.handshake(Self.unlisted, tag: "-TR3000-"))
        frames += tcp.send(fromClient: false, Self.handshake(Self.listed, tag: "-qB4630-"))
        let alerts = matches(run(frames).events)
        try #require(alerts.count == 1)
        #expect(alerts[0].source == Self.peer)
        #expect(alerts[0].direction == .toClient)
        #expect(alerts[0].observation.role == .offering)
        #expect(alerts[0].subscriber == .unknown)
    }

    @Test func splitReorderedAndRetransmittedHandshakeMatchesWhenComplete() throws {
        var tcp = conversation()
        var frames = tcp.open()
        var parts = tcp.send(fromClient: true, Self.handshake(Self.listed, tag: "-TR3000-"), segmentSize: 25)
        // 25 + 25 + 18 bytes: deliver the third, then the first twice, then the second.
        try #require(parts.count == 3)
        parts = [parts[2], parts[0], parts[0], parts[1]]
        for (index, _) in parts.enumerated() { parts[index].timestamp = Timestamp(microseconds: Self.start.microseconds + 10_000 + Int64(index)) }
        frames += parts
        let (events, counters) = run(frames)
        let alerts = matches(events)
        try #require(alerts.count == 1)
        #expect(alerts[0].timestamp == parts[3].timestamp)
        #expect(counters.reassemblyGaps == 0)
    }

    @Test func streamPickedUpMidwayStillMatches() {
        var tcp = conversation()
        _ = tcp.open()
        var frames = tcp.send(fromClient: false, [UInt8](repeating: 0x55, count: 700))
        frames += tcp.send(fromClient: false, Self.handshake(Self.listed, tag: "-TR3000-"))
        let alerts = matches(run(frames).events)
        #expect(alerts.count == 1)
        // Without the SYN, the first packet's sender is taken as the initiator.
        #expect(alerts.first?.direction == .toServer)
    }

    @Test func unlistedAndNonP2PFlowsLeaveNoRecord() {
        var tcp = conversation()
        var frames = tcp.open()
        frames += tcp.send(fromClient: true, Self.handshake(Self.unlisted, tag: "-TR3000-"))
        var http = TCPConversation(client: Self.subscriber, server: Endpoint(address: Self.peer.address, port: 80), start: Self.start)
        frames += http.open()
        frames += http.send(fromClient: true, Array("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n".utf8))
        frames += http.send(fromClient: false, [UInt8](repeating: 0x41, count: 20_000))
        frames += http.send(fromClient: true, [UInt8](repeating: 0x42, count: 10_000))
        frames += http.send(fromClient: true, Self.handshake(Self.listed, tag: "-TR3000-"))  // past the scan budget
        let (events, counters) = run(frames)
        #expect(events.isEmpty)
        #expect(counters.flowsCreated == 2)
        #expect(counters.p2pFlows(.bittorrent) == 1)
        #expect(counters.flowsUninteresting == 1)
        #expect(counters.observations == 1)
    }

    @Test func wrongLengthByteRaisesNothing() {
        var tcp = conversation()
        var frames = tcp.open()
        var bad = Self.handshake(Self.listed, tag: "-TR3000-")
        bad[0] = 20
        frames += tcp.send(fromClient: true, bad)
        #expect(run(frames).events.isEmpty)
    }

    @Test func fullTableEvictsOldestAndEndsFlaggedFlows() throws {
        var configuration = EngineConfiguration()
        configuration.maxFlows = 2
        var frames: [Frame] = []
        for port in UInt16(50_000) ..< 50_003 {
            var tcp = TCPConversation(client: Endpoint(address: Self.subscriber.address, port: port), server: Self.peer,
                                      start: Timestamp(microseconds: Self.start.microseconds + Int64(port - 50_000) * 1_000_000))
            frames += tcp.open()
            frames += tcp.send(fromClient: true, Self.handshake(Self.listed, tag: "-TR3000-"))
        }
        let (events, counters) = run(frames, configuration: configuration, finish: false)
        #expect(matches(events).count == 3)
        let ends = flowEnds(events)
        try #require(ends.count == 1)
        #expect(ends[0].reason == .evicted)
        #expect(ends[0].initiator.port == 50_000)
        #expect(counters.flowsEvicted == 1)
    }

    @Test func idleFlowsExpireOnCaptureTime() throws {
        var tcp = conversation()
        var frames = tcp.open()
        frames += tcp.send(fromClient: true, Self.handshake(Self.listed, tag: "-TR3000-"))
        let later = Timestamp(microseconds: Self.start.microseconds + 700 * 1_000_000)
        frames.append(Frame(bytes: PacketBuilder.udp(from: Self.subscriber, to: Self.peer, payload: [1]), timestamp: later))
        let (events, counters) = run(frames, finish: false)
        let ends = flowEnds(events)
        try #require(ends.count == 1)
        #expect(ends[0].reason == .timeout)
        #expect(counters.flowsExpired == 1)
    }

    @Test func reloadedWatchListAppliesToLaterPackets() {
        var engine = DetectionEngine(watchList: .empty)
        var events: [DetectionEvent] = []
        var tcp = conversation()
        var frames = tcp.open()
        frames += tcp.send(fromClient: true, Self.handshake(Self.listed, tag: "-TR3000-"))
        frames += tcp.send(fromClient: false, Self.handshake(Self.listed, tag: "-TR3000-"))
        for (index, frame) in frames.enumerated() {
            if index == 4 { engine.watchList = Self.watchList }
            frame.bytes.withUnsafeBytes { engine.process(frame: $0, wireLength: frame.wireLength, timestamp: frame.timestamp, link: .ethernet, events: &events) }
        }
        let alerts = matches(events)
        #expect(alerts.count == 1)
        #expect(alerts.first?.direction == .toClient)
    }

    @Test func hostileFramesOnlyMoveCounters() {
        var random = SeededGenerator(seed: 0xF00D)
        var engine = DetectionEngine(watchList: Self.watchList)
        var events: [DetectionEvent] = []
        var tcp = conversation()
        var good = tcp.open()
        good += tcp.send(fromClient: true, Self.handshake(Self.listed, tag: "-TR3000-"), segmentSize: 7)
        for round in 0 ..< 20_000 {
            var bytes = good[round % good.count].bytes
            let flips = Int(random.next() % 6)
            for _ in 0 ..< flips { bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next()) }
            if random.next() % 5 == 0 { bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count + 1)))) }
            bytes.withUnsafeBytes { raw in
                engine.process(frame: raw, wireLength: raw.count, timestamp: Timestamp(microseconds: Int64(round)), link: .ethernet, events: &events)
            }
        }
        engine.finish(events: &events)
        #expect(engine.counters.packets == 20_000)
        #expect(engine.counters.decodedPackets + engine.counters.skipped.reduce(0, +) == 20_000)
    }

    @Test func timestampsFormatAsUTCWithMicroseconds() {
        #expect(Timestamp(seconds: 1_455_469_967, microseconds: 246_718).iso8601 == "2016-02-14T17:12:47.246718Z")
        #expect(Timestamp(microseconds: 0).iso8601 == "1970-01-01T00:00:00.000000Z")
        #expect(Timestamp(seconds: 951_782_400, microseconds: 5).iso8601 == "2000-02-29T00:00:00.000005Z")
        #expect(Timestamp(microseconds: -1).iso8601 == "1969-12-31T23:59:59.999999Z")
    }
}

@Suite struct SharedSocketTests {
    /// Real clients run the DHT and uTP over one UDP socket: a DHT lookup and then a uTP
    /// handshake for the same torrent on one 5-tuple are two matches, one per protocol.
    @Test func dhtAndUTPOnOneFlowEachMatch() throws {
        let hash: [UInt8] = Hex.decode("dcfcdccfb9e670ccc3dd40c78c161f2bea243126") ?? []
        let leech = Endpoint(address: IPAddress(ipv4: 0xCB00_7103), port: 6_881)
        let seed = Endpoint(address: IPAddress(ipv4: 0xCB00_7102), port: 51_413)
        var random = SeededGenerator(seed: 3)
        let query = BencodeValue.dictionary([("a", .dictionary([("id", .bytes(random.bytes(20))), ("info_hash", .bytes(hash))])),
                                             ("q", .text("get_peers")), ("t", .text("aa")), ("y", .text("q"))]).encoded
        let start = Timestamp(seconds: 1_795_000_000, microseconds: 0)
        let ping = BencodeValue.dictionary([("a", .dictionary([("id", .bytes(random.bytes(20)))])), ("q", .text("ping")), ("t", .text("pp")), ("y", .text("q"))]).encoded
        var frames = [Frame(bytes: PacketBuilder.udp(from: seed, to: leech, payload: ping), timestamp: start.adding(seconds: -1)),
                      Frame(bytes: PacketBuilder.udp(from: leech, to: seed, payload: query), timestamp: start)]
        frames.append(Frame(bytes: PacketBuilder.udp(from: leech, to: seed, payload: utpPacket(4, connection: 9, sequence: 100)), timestamp: start.adding(seconds: 1)))
        let handshake = BitTorrentFixtures.handshake(infoHash: hash, peerID: random.bytes(20))
        frames.append(Frame(bytes: PacketBuilder.udp(from: leech, to: seed, payload: utpPacket(0, connection: 10, sequence: 101, payload: handshake)),
                            timestamp: start.adding(seconds: 2)))
        let snapshot = WatchListSnapshot(sources: [WatchListSource(name: "l", path: "l", sha256: "")],
                                         entries: [WatchListEntry(id: try #require(ContentID(kind: .btih, bytes: hash)), sourceIndex: 0, label: nil, category: nil, line: 1)])
        var engine = DetectionEngine(watchList: snapshot)
        var events: [DetectionEvent] = []
        for frame in frames {
            frame.bytes.withUnsafeBytes { engine.process(frame: $0, wireLength: frame.wireLength, timestamp: frame.timestamp, link: .ethernet, events: &events) }
        }
        engine.finish(events: &events)
        let matches = events.compactMap { if case .match(let m) = $0 { m } else { nil } }
        #expect(matches.map(\.observation.proto) == [.bittorrentDHT, .utp])
        // The leech opened the uTP connection (its SYN), so its handshake seeks.
        #expect(matches.last?.observation.role == .seeking)
        #expect(matches.map(\.flowID).count == 2 && Set(matches.map(\.flowID)).count == 1)
        let end = try #require(events.compactMap { if case .flowEnd(let f) = $0 { f } else { nil } }.first)
        #expect(end.matched.map(\.proto) == [.bittorrentDHT, .utp])
    }
}
