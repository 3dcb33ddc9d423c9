import Foundation
import Testing
import PeerWatchCore
import PeerWatchTestSupport
@testable import PeerWatchRuntime

/// The dispatched read (a reader filling chunks, workers each keeping a shard of the flows)
/// gives, for any number of workers and for pcap and pcapng alike, exactly the records one engine
/// gives over the same frames: matches, flows ended by expiry in the middle of the capture and at
/// its end, and the encrypted-flow counts that need one tally across workers.
@Suite struct DispatchedReadTests {
    /// 40 subscribers who each fetch a listed torrent and then open three MSE-looking flows,
    /// among 3,000 TLS and UDP flows (a tenth over IPv6) spread over ten minutes of capture.
    static let frames: [Frame] = {
        var random = SeededGenerator(seed: 42)
        var frames: [Frame] = []
        let start: Int64 = 1_800_000_000
        func v4(_ value: UInt32) -> IPAddress { IPAddress(ipv4: value) }
        for s in 0 ..< 40 {
            let subscriber = v4(0xC633_6400 | UInt32(s + 1))
            let at = start + Int64(s) * 7
            var peer = TCPConversation(client: Endpoint(address: subscriber, port: UInt16(50_000 + s)),
                                       server: Endpoint(address: v4(0xCB00_7100 | UInt32(s + 1)), port: 6_881),
                                       start: Timestamp(seconds: at, microseconds: 0))
            frames += peer.open()
            frames += peer.send(fromClient: true, BitTorrentFixtures.handshake(infoHash: listedHash, peerID: BitTorrentFixtures.peerID(clientTag: "-TR3000-", using: &random)))
            frames += peer.send(fromClient: false, BitTorrentFixtures.handshake(infoHash: listedHash, peerID: BitTorrentFixtures.peerID(clientTag: "-qB4630-", using: &random)))
            frames += peer.close()
            for e in 0 ..< 3 {
                var hidden = TCPConversation(client: Endpoint(address: subscriber, port: UInt16(40_000 + s * 4 + e)),
                                             server: Endpoint(address: v4(0xC000_0200 | UInt32(e * 60 + s + 1)), port: UInt16(20_000 + e)),
                                             start: Timestamp(seconds: at + 5 + Int64(e) * 12, microseconds: 250))
                frames += hidden.open()
                frames += hidden.send(fromClient: true, random.bytes(96 + Int(random.next() % 300)))
                frames += hidden.send(fromClient: false, random.bytes(96 + Int(random.next() % 300)))
                frames += hidden.send(fromClient: true, random.bytes(700))
            }
        }
        for n in 0 ..< 3_000 {
            let at = start + Int64(random.next() % 600)
            let micros = Int64(random.next() % 1_000_000)
            let six = n % 10 == 0
            let client = six ? IPAddress(ipv6High: 0x2001_0DB8_0000_0001, low: UInt64(n)) : v4(0x6440_0000 | UInt32(n))
            let server = six ? IPAddress(ipv6High: 0x2001_0DB8_0000_0002, low: UInt64(n % 50)) : v4(0xC612_0000 | UInt32(n % 50))
            if n % 3 == 0 {
                let a = Endpoint(address: client, port: UInt16(30_000 + n % 20_000)), b = Endpoint(address: server, port: 443)
                for k in 0 ..< 4 {
                    let payload = k == 0 ? [0xC3, 0, 0, 0, 1] + random.bytes(1_200) : [0x43] + random.bytes(200)
                    let (from, to) = k % 2 == 0 ? (a, b) : (b, a)
                    frames.append(Frame(bytes: PacketBuilder.udp(from: from, to: to, payload: payload), timestamp: Timestamp(seconds: at + Int64(k), microseconds: micros)))
                }
            } else {
                var tls = TCPConversation(client: Endpoint(address: client, port: UInt16(10_000 + n % 30_000)), server: Endpoint(address: server, port: 443),
                                          start: Timestamp(seconds: at, microseconds: micros), step: 20_000)
                frames += tls.open()
                frames += tls.send(fromClient: true, [0x16, 3, 1, 0, 200, 1] + random.bytes(199))
                frames += tls.send(fromClient: false, [0x16, 3, 3, 0, 90, 2] + random.bytes(89))
                frames += tls.send(fromClient: false, [0x17, 3, 3, 5, 0] + random.bytes(1_280))
                if n % 2 == 0 { frames += tls.close() }
            }
        }
        // One capture in time order; frames of the same microsecond keep their order.
        return frames.enumerated().sorted { ($0.element.timestamp.microseconds, $0.offset) < ($1.element.timestamp.microseconds, $1.offset) }.map(\.element)
    }()

    static func lines(_ events: [DetectionEvent]) -> [String] {
        var encoder = AlertEncoder(sensor: SensorIdentity(name: "test", interface: nil))
        return events.map { String(decoding: encoder.encode($0), as: UTF8.self) }.filter { !$0.isEmpty }
    }

    static func watchList(_ directory: TemporaryDirectory) throws -> WatchListSnapshot {
        try WatchListLoader.load(paths: [try directory.write("list.txt", text: listedLine)])
    }

    @Test(arguments: [(1, false), (2, false), (3, false), (2, true), (3, true)])
    func anyNumberOfWorkersGivesOneEnginesRecords(threads: Int, pcapng: Bool) throws {
        let directory = try TemporaryDirectory()
        let list = try Self.watchList(directory)
        let expected = Self.lines(EngineHarness.run(Self.frames, watchList: list))
        // The test means something: every fetch matched, every flagged flow ended, most of them
        // by expiry before the end, and encrypted flows counted against flagged addresses.
        #expect(expected.filter { $0.contains("\"event_type\":\"match\"") }.count == 40)
        let ends = expected.filter { $0.contains("\"event_type\":\"flow_end\"") }
        #expect(ends.count == 40)
        #expect(ends.filter { !$0.contains("\"reason\":\"shutdown\"") }.count >= 30, "\(ends.prefix(2))")
        #expect(ends.filter { !$0.contains("\"encrypted_flows_src\":0") }.count >= 30, "\(ends.prefix(2))")

        let bytes = pcapng ? PcapFileWriter.pcapng(Self.frames) : PcapFileWriter.pcap(Self.frames)
        let path = try directory.write(pcapng ? "mix.pcapng" : "mix.pcap", bytes)
        let result = try OfflineAnalysis.run(paths: [path], watchList: list, threads: threads)
        let found = Self.lines(result.events)
        #expect(found.count == expected.count)
        #expect(found == expected)
        #expect(result.counters.packets == Self.frames.count)
    }

    /// Every worker gets a fair share of the flows (the symmetric hash spreads them), and each
    /// packet goes to exactly one.
    @Test func workersShareTheFlows() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("mix.pcap", PcapFileWriter.pcap(Self.frames))
        let read = DispatchedRead(paths: [path], threads: 3, configuration: EngineConfiguration(),
                                  watchLists: WatchListStore(snapshot: try Self.watchList(directory), logger: .init(label: "test")), stop: nil)
        let outcome = read.run(onOpen: { _ in }, onTick: {}, submit: { _ in })
        #expect(outcome.failure == nil)
        let shares = read.packetsPerWorker
        #expect(shares.reduce(0, +) == UInt64(Self.frames.count))
        for share in shares { #expect(Double(share) > Double(Self.frames.count) / 3 * 0.8, "\(shares)") }
    }
}
