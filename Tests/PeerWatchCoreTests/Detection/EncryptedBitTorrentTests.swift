import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

@Suite struct EncryptedBitTorrentTests {
    static let subscriber = IPAddress(ipv4: 0xC633_6430)

    @Test func keyExchangeOpeningsAreRecognisedAndOthersAreNot() {
        var random = SeededGenerator(seed: 40)
        #expect(random.bytes(96).withUnsafeBytes { BitTorrent.MSE.couldBeKeyExchange($0) })
        #expect(random.bytes(96 + 512).withUnsafeBytes { BitTorrent.MSE.couldBeKeyExchange($0) })
        #expect(!random.bytes(95).withUnsafeBytes { BitTorrent.MSE.couldBeKeyExchange($0) })
        #expect(!random.bytes(609).withUnsafeBytes { BitTorrent.MSE.couldBeKeyExchange($0) })
        #expect(!([0x16, 0x03, 0x01, 0x00, 0xC8] + random.bytes(200)).withUnsafeBytes { BitTorrent.MSE.couldBeKeyExchange($0) })
        #expect(!(Array("SSH-2.0-OpenSSH_9.2\r\n".utf8) + random.bytes(100)).withUnsafeBytes { BitTorrent.MSE.couldBeKeyExchange($0) })
        #expect(!Array(String(repeating: "GET /x HTTP/1.1\r\nHost: a\r\n", count: 6).utf8).withUnsafeBytes { BitTorrent.MSE.couldBeKeyExchange($0) })
        #expect(![UInt8](repeating: 0, count: 200).withUnsafeBytes { BitTorrent.MSE.couldBeKeyExchange($0) })
    }

    @Test func aFlaggedPeersFlowEndCountsItsEncryptedFlows() throws {
        var random = SeededGenerator(seed: 41)
        let listed = random.bytes(20)
        let snapshot = WatchListSnapshot(sources: [WatchListSource(name: "l", path: "l", sha256: "")],
                                         entries: [WatchListEntry(id: try #require(ContentID(kind: .btih, bytes: listed)), sourceIndex: 0, label: nil, category: nil, line: 1)])
        var frames: [Frame] = []
        let start = Timestamp(seconds: 1_795_000_000, microseconds: 0)
        // An encrypted flow before the match is not counted (the address was not flagged yet).
        var early = TCPConversation(client: Endpoint(address: Self.subscriber, port: 40_000), server: Endpoint(address: IPAddress(ipv4: 0xCB00_7101), port: 51_413), start: start)
        frames += early.open() + early.send(fromClient: true, random.bytes(96 + 37)) + early.send(fromClient: false, random.bytes(96 + 200))
        var flagged = TCPConversation(client: Endpoint(address: Self.subscriber, port: 40_001), server: Endpoint(address: IPAddress(ipv4: 0xCB00_7102), port: 6_881), start: start.adding(seconds: 1))
        frames += flagged.open() + flagged.send(fromClient: true, BitTorrentFixtures.handshake(infoHash: listed, peerID: random.bytes(20)))
        for port in UInt16(40_002) ... 40_004 {
            var encrypted = TCPConversation(client: Endpoint(address: Self.subscriber, port: port), server: Endpoint(address: IPAddress(ipv4: 0xCB00_7103), port: 51_413), start: start.adding(seconds: 2))
            frames += encrypted.open() + encrypted.send(fromClient: true, random.bytes(96 + Int(port % 500))) + encrypted.send(fromClient: false, random.bytes(96 + 12))
        }
        var tls = TCPConversation(client: Endpoint(address: Self.subscriber, port: 40_010), server: Endpoint(address: IPAddress(ipv4: 0xCB00_7104), port: 443), start: start.adding(seconds: 3))
        frames += tls.open() + tls.send(fromClient: true, [0x16, 0x03, 0x01, 0x00, 0xC8] + random.bytes(200)) + tls.send(fromClient: false, random.bytes(300))
        var engine = DetectionEngine(watchList: snapshot)
        var events: [DetectionEvent] = []
        for frame in frames {
            frame.bytes.withUnsafeBytes { engine.process(frame: $0, wireLength: frame.wireLength, timestamp: frame.timestamp, link: .ethernet, events: &events) }
        }
        engine.finish(events: &events)
        #expect(engine.counters.likelyEncryptedBitTorrentFlows == 4)
        let end = try #require(events.compactMap { if case .flowEnd(let f) = $0 { f } else { nil } }.first)
        #expect(end.encryptedFlowsOfInitiator == 3)
        #expect(end.encryptedFlowsOfResponder == 0)
        #expect(events.compactMap { if case .match(let m) = $0 { m } else { nil } }.count == 1)
    }
}
