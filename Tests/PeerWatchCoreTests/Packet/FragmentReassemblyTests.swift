import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

/// IP fragments put back together, bounded, first copy winning; and what the engine finds in
/// datagrams that arrived in pieces, plain or through tunnels.
@Suite struct FragmentReassemblyTests {
    static let key = FragmentReassembler.Key(source: IPAddress(ipv4: 1), destination: IPAddress(ipv4: 2), identification: 7, proto: 17, zone: 0)
    static let start = Timestamp(seconds: 1_795_000_000, microseconds: 0)

    func insert(_ r: inout FragmentReassembler, _ key: FragmentReassembler.Key = key, offset: Int, more: Bool, _ data: [UInt8],
                truncated: Bool = false, at time: Timestamp = start) -> [UInt8]? {
        let done = data.withUnsafeBytes { r.insert(key, offset: offset, more: more, data: $0, truncated: truncated, wireLength: data.count + 34, at: time) }
        return done.map { _ in r.completed }
    }

    @Test func inAnyOrderFirstCopyWins() {
        var r = FragmentReassembler()
        let a = [UInt8](repeating: 0xA, count: 16), b = [UInt8](repeating: 0xB, count: 16), c = [UInt8](repeating: 0xC, count: 5)
        #expect(insert(&r, offset: 32, more: false, c) == nil)
        #expect(insert(&r, offset: 0, more: true, a) == nil)
        // An overlapping copy of bytes 8 ..< 24 (its first half already held): only 16 ..< 24 is taken.
        #expect(insert(&r, offset: 8, more: true, [UInt8](repeating: 0xE, count: 16)) == nil)
        #expect(r.inFlight == 1)
        let whole = insert(&r, offset: 16, more: true, b)
        #expect(whole == a + [UInt8](repeating: 0xE, count: 8) + [UInt8](repeating: 0xB, count: 8) + c)
        #expect(r.counters[FragmentOutcome.reassembled.rawValue] == 1)
        #expect(r.counters[FragmentOutcome.overlapped.rawValue] == 2)
        #expect(r.counters[FragmentOutcome.received.rawValue] == 4)
        #expect(r.inFlight == 0 && r.framesGivenUp == 0)
    }

    @Test func boundsGiveDatagramsUpAndCountThem() {
        var limits = FragmentLimits()
        limits.maxFragments = 3
        limits.maxDatagrams = 2
        limits.maxBytes = 1_000
        var r = FragmentReassembler(limits: limits)
        // Too many fragments.
        for index in 0 ..< 4 { _ = insert(&r, offset: index * 8, more: true, [UInt8](repeating: 1, count: 8)) }
        #expect(r.counters[FragmentOutcome.tooManyFragments.rawValue] == 1 && r.framesGivenUp == 4)
        // Two ends that disagree, and data past the end.
        #expect(insert(&r, offset: 16, more: false, [1, 2, 3]) == nil)
        #expect(insert(&r, offset: 24, more: false, [1]) == nil)
        #expect(r.counters[FragmentOutcome.inconsistent.rawValue] == 1 && r.inFlight == 0)
        // Longer than an IP datagram can be.
        #expect(insert(&r, offset: 65_528, more: true, [UInt8](repeating: 0, count: 16)) == nil)
        #expect(r.counters[FragmentOutcome.inconsistent.rawValue] == 2)
        // Datagrams in flight at their cap: the oldest goes.
        for id in 0 ..< 3 {
            var key = Self.key
            key.identification = UInt32(100 + id)
            _ = insert(&r, key, offset: 0, more: true, [UInt8](repeating: 0, count: 8), at: Self.start.adding(seconds: Int64(id)))
        }
        #expect(r.inFlight == 2 && r.counters[FragmentOutcome.evicted.rawValue] == 1)
        // The bytes held at their cap.
        var big = Self.key
        big.identification = 999
        _ = insert(&r, big, offset: 0, more: true, [UInt8](repeating: 0, count: 995), at: Self.start.adding(seconds: 5))
        #expect(r.inFlight == 1 && r.counters[FragmentOutcome.evicted.rawValue] == 3)
        // Cut by the snaplen.
        #expect(insert(&r, offset: 0, more: true, [1], truncated: true) == nil)
        #expect(r.counters[FragmentOutcome.truncated.rawValue] == 1)
        // Endless: never completed, gone after the timeout.
        r.expire(now: Self.start.adding(seconds: 30))
        #expect(r.inFlight == 1)
        r.expire(now: Self.start.adding(seconds: 36))
        #expect(r.inFlight == 0 && r.counters[FragmentOutcome.timedOut.rawValue] == 1)
    }

    /// A flood of datagrams that never complete, beside ones that do: the oldest waiting one
    /// goes each time, and what is held stays within the caps.
    @Test func aFloodOfUnfinishedDatagramsEvictsOldestFirst() {
        var limits = FragmentLimits()
        limits.maxDatagrams = 16
        var r = FragmentReassembler(limits: limits)
        var completed = 0
        for id in 0 ..< 20_000 {
            var key = Self.key
            key.identification = UInt32(id)
            let time = Self.start.adding(seconds: Int64(id / 1_000))
            _ = insert(&r, key, offset: 0, more: true, [UInt8](repeating: 1, count: 8), at: time)
            if id % 2 == 0, insert(&r, key, offset: 8, more: false, [2], at: time) != nil { completed += 1 }
            #expect(r.inFlight <= 16)
        }
        #expect(completed == 10_000)
        #expect(r.counters[FragmentOutcome.evicted.rawValue] == 10_000 - 16)
        #expect(r.inFlight == 16)
    }

    // MARK: - Through the engine

    static let hash: [UInt8] = Hex.decode("dcfcdccfb9e670ccc3dd40c78c161f2bea243126") ?? []
    static var watchList: WatchListSnapshot { EngineHarness.watchList([ContentID(kind: .btih, bytes: hash)].compactMap { $0 }) }

    /// A DHT get_peers for the listed infohash, padded past one fragment, as an IP packet.
    static func getPeers(from source: Endpoint, to destination: Endpoint) -> [UInt8] {
        let query = BencodeValue.dictionary([("a", .dictionary([("id", .bytes([UInt8](repeating: 0x61, count: 20))), ("info_hash", .bytes(hash)),
                                                                 ("token", .bytes([UInt8](repeating: 0x74, count: 900)))])),
                                             ("q", .text("get_peers")), ("t", .text("aa")), ("y", .text("q"))]).encoded
        let frame = PacketBuilder.udp(from: source, to: destination, payload: query)
        return CarrierBuilder.ipPacket(ofEthernet: frame) ?? []
    }

    static let v4 = (Endpoint(address: IPAddress(ipv4: 0x0A00_0005), port: 6_881), Endpoint(address: IPAddress(ipv4: 0x0A00_0009), port: 6_882))
    static let v6 = (Endpoint(address: IPAddress(ipv6High: 0xFD00, low: 5), port: 6_881), Endpoint(address: IPAddress(ipv6High: 0xFD00, low: 9), port: 6_882))

    func run(_ frames: [[UInt8]]) -> (matches: [MatchAlert], counters: EngineCounters) {
        var engine = DetectionEngine(watchList: Self.watchList)
        var events: [DetectionEvent] = []
        for (index, bytes) in frames.enumerated() {
            bytes.withUnsafeBytes {
                engine.process(frame: $0, wireLength: $0.count, timestamp: Self.start.adding(seconds: Int64(index)), link: .ethernet, events: &events)
            }
        }
        engine.finish(events: &events)
        return (EngineHarness.matches(events), engine.counters)
    }

    @Test(arguments: [false, true])
    func aFragmentedDHTQueryMatchesInAnyOrder(ipv6: Bool) throws {
        let (source, destination) = ipv6 ? Self.v6 : Self.v4
        let pieces = CarrierBuilder.fragments(of: Self.getPeers(from: source, to: destination), size: 400)
        #expect(pieces.count == 3)
        let frames = [pieces[2], pieces[0], pieces[1]].map { CarrierBuilder.wrap(ip: $0, in: []) }
        let (matches, counters) = run(frames)
        #expect(matches.count == 1)
        let match = try #require(matches.first)
        #expect(match.observation.proto == .bittorrentDHT && match.source == source && match.destination == destination)
        #expect(match.carrier == Carrier(reassembled: true))
        #expect(counters.fragments(.received) == 3 && counters.fragments(.reassembled) == 1)
        #expect(counters.packets == 3 && counters.decodedPackets == 3 && counters.skipped(.fragment) == 0)
    }

    @Test func aFragmentedTunnelPacketIsReassembledThenDecapsulated() throws {
        let (source, destination) = Self.v4
        let inner = Self.getPeers(from: source, to: destination)
        // The outer GRE packet is what got fragmented (a tunnel with a small MTU).
        let outer = CarrierBuilder.ipPacket(ofEthernet: CarrierBuilder.wrap(ip: inner, in: [.gre(source: IPAddress(ipv4: 0xC000_0201), destination: IPAddress(ipv4: 0xC000_0202), key: 9)])) ?? []
        let frames = CarrierBuilder.fragments(of: outer, size: 256).map { CarrierBuilder.wrap(ip: $0, in: [.vlan(30)]) }
        let (matches, counters) = run(frames)
        let match = try #require(matches.first)
        #expect(matches.count == 1 && match.source == source)
        #expect(match.carrier == Carrier(vlans: [30], tunnels: [Carrier.Tunnel(kind: .gre, outerSource: IPAddress(ipv4: 0xC000_0201),
                                                                                     outerDestination: IPAddress(ipv4: 0xC000_0202), id: 9)], reassembled: true))
        #expect(counters.fragments(.reassembled) == 1 && counters.carrierPackets(.gre) == frames.count && counters.carrierPackets(.vlan) == frames.count)
    }

    @Test func fragmentsBehindDifferentVLANsDoNotMix() {
        let (source, destination) = Self.v4
        let pieces = CarrierBuilder.fragments(of: Self.getPeers(from: source, to: destination), size: 400)
        // Half the fragments on one VLAN, half on another, same addresses and identification.
        let frames = [CarrierBuilder.wrap(ip: pieces[0], in: [.vlan(1)]), CarrierBuilder.wrap(ip: pieces[1], in: [.vlan(2)]),
                      CarrierBuilder.wrap(ip: pieces[2], in: [.vlan(1)])]
        let (matches, counters) = run(frames)
        #expect(matches.isEmpty && counters.fragments(.reassembled) == 0)
        // Both datagrams still waited when the capture ended: their three frames are given up.
        #expect(counters.fragments(.received) == 3 && counters.fragments(.unfinished) == 2 && counters.skipped(.fragment) == 3)
    }

    @Test func hostileFragmentsAreCountedNeverATrap() {
        let (source, destination) = Self.v4
        let packet = Self.getPeers(from: source, to: destination)
        var frames: [[UInt8]] = []
        // Endless: the same first fragment again and again, and fragments of absurd offsets.
        let pieces = CarrierBuilder.fragments(of: packet, size: 400)
        for _ in 0 ..< 100 { frames.append(CarrierBuilder.wrap(ip: pieces[0], in: [])) }
        for id in 0 ..< 200 {
            frames += CarrierBuilder.fragments(of: packet, size: 8, identification: UInt32(1_000 + id)).suffix(3).map { CarrierBuilder.wrap(ip: $0, in: []) }
        }
        // Every cut of every fragment.
        for piece in pieces { for length in 0 ..< piece.count + 14 { frames.append(Array(CarrierBuilder.wrap(ip: piece, in: []).prefix(length))) } }
        let (matches, counters) = run(frames)
        #expect(counters.fragments(.received) > 700)
        // A frame a second: the repeated first fragment's datagram times out every 30 s and starts anew.
        #expect(counters.fragments(.overlapped) == 96 && counters.fragments(.timedOut) >= 3)
        #expect(counters.fragments(.truncated) > 0)
        #expect(matches.count <= 1)
        // Every frame is accounted for: decoded (alone or in its datagram) or skipped.
        #expect(counters.decodedPackets + counters.skipped.reduce(0, +) == counters.packets)
    }
}
