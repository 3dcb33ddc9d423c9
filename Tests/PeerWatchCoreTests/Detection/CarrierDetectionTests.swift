import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

/// BitTorrent's handshake, DHT and uTP inside every carrier raise the same alerts as on plain
/// Ethernet, on the inner flow, with the carrier reported.
@Suite struct CarrierDetectionTests {
    static let hash: [UInt8] = Hex.decode("dcfcdccfb9e670ccc3dd40c78c161f2bea243126") ?? []
    static let leech = Endpoint(address: IPAddress(ipv4: 0x0A00_0005), port: 51_413)   // 10.0.0.5
    static let seed = Endpoint(address: IPAddress(ipv4: 0x0A00_0009), port: 6_881)     // 10.0.0.9
    static let start = Timestamp(seconds: 1_795_000_000, microseconds: 0)

    /// Wraps each frame by its direction: leech to seed forward (10.0.0.5 is the lower address).
    func wrapped(_ frames: [Frame], _ profile: CarrierProfile) -> [Frame] {
        frames.map { frame in
            var out = frame
            out.bytes = CarrierBuilder.rewrap(frame.bytes, link: .ethernet, in: profile) ?? []
            out.wireLength = out.bytes.count
            return out
        }
    }

    /// A TCP handshake both ways, then a DHT get_peers and a uTP handshake on one UDP socket.
    func traffic() -> [Frame] {
        var random = SeededGenerator(seed: 11)
        var tcp = TCPConversation(client: Self.leech, server: Self.seed, start: Self.start)
        var frames = tcp.open()
        frames += tcp.send(fromClient: true, BitTorrentFixtures.handshake(infoHash: Self.hash, peerID: random.bytes(20)))
        frames += tcp.send(fromClient: false, BitTorrentFixtures.handshake(infoHash: Self.hash, peerID: random.bytes(20)))
        let udpLeech = Endpoint(address: Self.leech.address, port: 40_000), udpSeed = Endpoint(address: Self.seed.address, port: 40_001)
        let query = BencodeValue.dictionary([("a", .dictionary([("id", .bytes(random.bytes(20))), ("info_hash", .bytes(Self.hash))])),
                                             ("q", .text("get_peers")), ("t", .text("aa")), ("y", .text("q"))]).encoded
        frames.append(Frame(bytes: PacketBuilder.udp(from: udpLeech, to: udpSeed, payload: query), timestamp: Self.start.adding(seconds: 1)))
        frames.append(Frame(bytes: PacketBuilder.udp(from: udpLeech, to: udpSeed, payload: utpPacket(4, connection: 9, sequence: 100)), timestamp: Self.start.adding(seconds: 2)))
        let handshake = BitTorrentFixtures.handshake(infoHash: Self.hash, peerID: random.bytes(20))
        frames.append(Frame(bytes: PacketBuilder.udp(from: udpLeech, to: udpSeed, payload: utpPacket(0, connection: 10, sequence: 101, payload: handshake)),
                            timestamp: Self.start.adding(seconds: 3)))
        return frames
    }

    static var watchList: WatchListSnapshot { EngineHarness.watchList([ContentID(kind: .btih, bytes: hash)].compactMap { $0 }) }

    @Test(arguments: CarrierProfile.all)
    func theSameAlertsThroughEveryCarrier(profile: CarrierProfile) throws {
        let plain = EngineHarness.run(traffic(), watchList: Self.watchList)
        let carried = EngineHarness.run(wrapped(traffic(), profile), watchList: Self.watchList)
        let plainMatches = EngineHarness.matches(plain), matches = EngineHarness.matches(carried)
        // The seed's handshake names the same torrent on the same flow: a repeat sighting.
        #expect(plainMatches.count == 3)
        #expect(matches.map(\.observation.proto) == [.bittorrent, .bittorrentDHT, .utp])
        #expect(matches.map(\.observation.proto) == plainMatches.map(\.observation.proto))
        #expect(matches.map(\.source) == plainMatches.map(\.source))
        #expect(matches.map(\.destination) == plainMatches.map(\.destination))
        #expect(matches.map(\.observation.role) == plainMatches.map(\.observation.role))
        #expect(matches.allSatisfy { $0.hit.entry.id.hex == "dcfcdccfb9e670ccc3dd40c78c161f2bea243126" })
        // The carrier of each flow's first matching packet: the leech's direction, for the TCP
        // flow and for the UDP flow (whose uTP match reports the flow's carrier too).
        let forward = CarrierDecodingTests.expected[profile.name]
        #expect(matches[0].carrier == forward)
        #expect(matches[1].carrier == forward)
        #expect(matches[2].carrier == forward)
        #expect(plainMatches.allSatisfy { $0.carrier == nil })
        // Two flows, as on plain Ethernet, each ending with the carrier.
        let ends = EngineHarness.flowEnds(carried)
        #expect(ends.count == 2 && Set(ends.map(\.flowID)).count == 2)
        #expect(ends.allSatisfy { $0.carrier == forward })
        #expect(ends.map(\.initiator) == EngineHarness.flowEnds(plain).map(\.initiator))
    }

    /// Every packet of the traffic cut into fragments of 32 bytes sent last first, plain and
    /// inside tunnels (the inner packet fragmented, the tunnel packets whole): the same alerts.
    @Test(arguments: ["none", "gtpu", "vxlan", "stack"])
    func theSameAlertsInFragments(profileName: String) throws {
        let profile = CarrierProfile.all.first { $0.name == profileName } ?? CarrierProfile("none", [])
        var cut: [Frame] = []
        for frame in traffic() {
            let packet = try #require(CarrierBuilder.ipPacket(ofEthernet: frame.bytes))
            let pieces = packet.count > 60 ? CarrierBuilder.fragments(of: packet, size: 32, identification: UInt32(cut.count)) : [packet]
            let forward = packet[12 ..< 16].lexicographicallyPrecedes(packet[16 ..< 20])
            for piece in pieces.reversed() {
                cut.append(Frame(bytes: CarrierBuilder.wrap(ip: piece, in: forward ? profile.layers : profile.reverseLayers), timestamp: frame.timestamp))
            }
        }
        #expect(cut.count > 2 * traffic().count)
        let plain = EngineHarness.matches(EngineHarness.run(traffic(), watchList: Self.watchList))
        let matches = EngineHarness.matches(EngineHarness.run(cut, watchList: Self.watchList))
        #expect(matches.map(\.observation.proto) == [.bittorrent, .bittorrentDHT, .utp])
        #expect(matches.map(\.source) == plain.map(\.source) && matches.map(\.observation.role) == plain.map(\.observation.role))
        var expected = profileName == "none" ? Carrier() : try #require(CarrierDecodingTests.expected[profileName])
        expected.reassembled = true
        #expect(matches.allSatisfy { $0.carrier == expected }, "\(matches.map(\.carrier))")
    }

    @Test func aBearersUplinkAndDownlinkAreOneFlowAndCounted() throws {
        let profile = try #require(CarrierProfile.all.first { $0.name == "gtpu" })
        var engine = DetectionEngine(watchList: Self.watchList)
        var events: [DetectionEvent] = []
        let frames = wrapped(traffic(), profile)
        for frame in frames {
            frame.bytes.withUnsafeBytes { engine.process(frame: $0, wireLength: frame.wireLength, timestamp: frame.timestamp, link: .ethernet, events: &events) }
        }
        engine.finish(events: &events)
        #expect(engine.counters.flowsCreated == 2)
        #expect(engine.counters.carrierPackets(.gtpu) == frames.count)
        #expect(engine.counters.carrierPackets(.vlan) == 0)
        // The seed's handshake came down the other TEID; the flow's first match went up.
        let matches = EngineHarness.matches(events)
        #expect(matches.count == 3)
        #expect(matches.first?.carrier?.tunnels.first?.id == 0x1000_0001)
        #expect(EngineHarness.flowEnds(events).first?.packetsToClient == 2)
    }

    @Test func hostileCarriersAreCountedByReason() {
        let inner = PacketBuilder.tcp(from: Self.leech, to: Self.seed, sequence: 1, flags: .syn)
        var gre = CarrierBuilder.wrap(inner, in: [.gre(source: IPAddress(ipv4: 0xC000_0201), destination: IPAddress(ipv4: 0xC000_0202))])
        gre[14 + 20] = 0x40  // the routing bit
        let deep = CarrierBuilder.wrap(inner, in: [.mpls(labels: Array(1 ... 9))])
        let frames = [gre, deep].map { Frame(bytes: $0, timestamp: Self.start) }
        var engine = DetectionEngine(watchList: Self.watchList)
        var events: [DetectionEvent] = []
        for frame in frames {
            frame.bytes.withUnsafeBytes { engine.process(frame: $0, wireLength: frame.wireLength, timestamp: frame.timestamp, link: .ethernet, events: &events) }
        }
        #expect(engine.counters.skipped(.malformedTunnel) == 1)
        #expect(engine.counters.skipped(.tooManyLayers) == 1)
        #expect(engine.counters.decodedPackets == 0 && engine.flowCount == 0)
    }
}
