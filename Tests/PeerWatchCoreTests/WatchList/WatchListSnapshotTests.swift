import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

@Suite struct WatchListSnapshotTests {
    func id(_ kind: ContentID.Kind, _ hex: String) -> ContentID {
        guard let id = ContentID(kind: kind, hex: hex) else { preconditionFailure("bad test literal") }
        return id
    }

    @Test func contentIDKeepsKindLengthAndHex() throws {
        let btih = try #require(ContentID(kind: .btih, hex: "DCFCDCCFB9E670CCC3DD40C78C161F2BEA243126"))
        #expect(btih.hex == "dcfcdccfb9e670ccc3dd40c78c161f2bea243126")
        #expect(btih.description == "btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126")
        #expect(ContentID(kind: .btih, hex: "dcfc") == nil)
        #expect(ContentID(kind: .ed2k, hex: String(repeating: "a", count: 32))?.digest.count == 16)
        #expect(ContentID(kind: .tth, hex: String(repeating: "b", count: 48))?.digest.count == 24)
        #expect(ContentID(kind: .btihV2, hex: String(repeating: "c", count: 64))?.digest.count == 32)
        // Same bytes, different kinds: different identifiers.
        #expect(ContentID(kind: .sha1, hex: btih.hex) != btih)
        #expect(ContentID.Kind(name: "BTIH-V2") == .btihV2)
        #expect(ContentID.Kind(name: "crc32") == nil)
    }

    @Test func looksUpByKindAndDigestFirstLoadedWins() throws {
        let sources = [WatchListSource(name: "a", path: "a.txt", sha256: "aa"), WatchListSource(name: "b", path: "b.txt", sha256: "bb")]
        let hash = "dcfcdccfb9e670ccc3dd40c78c161f2bea243126"
        let entries = [
            WatchListEntry(id: id(.btih, "00" + String(repeating: "1", count: 38)), sourceIndex: 0, label: "one", category: nil, line: 1),
            WatchListEntry(id: id(.btih, hash), sourceIndex: 0, label: "first", category: "1", line: 2),
            WatchListEntry(id: id(.sha1, hash), sourceIndex: 1, label: "file", category: nil, line: 1),
            WatchListEntry(id: id(.btih, hash), sourceIndex: 1, label: "second", category: "2", line: 5),
            WatchListEntry(id: id(.btih, "ff" + String(repeating: "e", count: 38)), sourceIndex: 1, label: nil, category: nil, line: 9),
        ]
        let snapshot = WatchListSnapshot(sources: sources, entries: entries)
        let hit = try #require(snapshot.lookup(id(.btih, hash)))
        #expect(hit.entry.label == "first")
        #expect(hit.source.name == "a")
        #expect(hit.entry.line == 2)
        #expect(snapshot.lookup(id(.sha1, hash))?.entry.label == "file")
        #expect(snapshot.lookup(id(.btih, "ff" + String(repeating: "e", count: 38)))?.source.name == "b")
        #expect(snapshot.lookup(id(.btih, "00" + String(repeating: "1", count: 38)))?.entry.label == "one")
        #expect(snapshot.lookup(id(.btih, String(repeating: "5", count: 40))) == nil)
        #expect(snapshot.lookup(id(.md5, String(repeating: "5", count: 32))) == nil)
        #expect(snapshot.countsByKind == [.btih: 3, .sha1: 1])
        #expect(WatchListSnapshot.empty.lookup(id(.btih, hash)) == nil)
    }

    @Test func largeIndexFindsEveryEntry() throws {
        var random = SeededGeneratorLite(seed: 3)
        var entries: [WatchListEntry] = []
        for line in 1 ... 5_000 {
            let bytes = (0 ..< 20).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            entries.append(WatchListEntry(id: try #require(ContentID(kind: .btih, bytes: bytes)), sourceIndex: 0, label: nil, category: nil, line: line))
        }
        let snapshot = WatchListSnapshot(sources: [WatchListSource(name: "x", path: "x", sha256: "")], entries: entries)
        for entry in entries { #expect(snapshot.lookup(entry.id)?.entry.line == entry.line) }
    }
}

struct SeededGeneratorLite {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 11
    }
}

@Suite struct BitTorrentV2MatchingTests {
    static let v2 = "3a7c" + String(repeating: "5e", count: 18) + String(repeating: "c1", count: 12)   // 64 hex digits

    @Test func aTruncatedV2InfoHashMatchesTheListedFullOne() throws {
        let full = try #require(ContentID(kind: .btihV2, hex: Self.v2))
        let snapshot = WatchListSnapshot(sources: [WatchListSource(name: "v2", path: "v2.txt", sha256: "")],
                                         entries: [WatchListEntry(id: full, sourceIndex: 0, label: "hybrid", category: nil, line: 1)])
        let truncated = try #require(ContentID(kind: .btih, hex: String(Self.v2.prefix(40))))
        let hit = try #require(snapshot.lookup(truncated))
        #expect(hit.entry.id == full)
        #expect(hit.entry.id.hex == Self.v2)
        #expect(snapshot.lookup(full)?.entry.label == "hybrid")
        // The other 20-byte kinds do not reach into the v2 table.
        #expect(snapshot.lookup(try #require(ContentID(kind: .sha1, hex: String(Self.v2.prefix(40))))) == nil)
        #expect(snapshot.lookup(try #require(ContentID(kind: .btih, hex: String(Self.v2.suffix(40))))) == nil)
    }

    @Test func aHandshakeWithTheTruncatedFormAlertsWithTheFullV2ID() throws {
        let full = try #require(ContentID(kind: .btihV2, hex: Self.v2))
        let snapshot = WatchListSnapshot(sources: [WatchListSource(name: "v2", path: "v2.txt", sha256: "")],
                                         entries: [WatchListEntry(id: full, sourceIndex: 0, label: nil, category: nil, line: 1)])
        var engine = DetectionEngine(watchList: snapshot)
        var events: [DetectionEvent] = []
        var tcp = TCPConversation(client: Endpoint(address: IPAddress(ipv4: 0xC633_6401), port: 5000),
                                  server: Endpoint(address: IPAddress(ipv4: 0xCB00_7101), port: 6881),
                                  start: Timestamp(seconds: 1_795_000_000, microseconds: 0))
        var random = SeededGenerator(seed: 2)
        var frames = tcp.open()
        frames += tcp.send(fromClient: true, BitTorrentFixtures.handshake(infoHash: Hex.decode(String(Self.v2.prefix(40))) ?? [],
                                                                          peerID: BitTorrentFixtures.peerID(clientTag: "-LT2000-", using: &random)))
        for frame in frames {
            frame.bytes.withUnsafeBytes { engine.process(frame: $0, wireLength: frame.wireLength, timestamp: frame.timestamp, link: .ethernet, events: &events) }
        }
        engine.finish(events: &events)
        let matches = events.compactMap { if case .match(let m) = $0 { m } else { nil } }
        try #require(matches.count == 1)
        #expect(matches[0].hit.entry.id == full)
        #expect(matches[0].observation.contentID.kind == .btih)
        let ends = events.compactMap { if case .flowEnd(let f) = $0 { f } else { nil } }
        #expect(ends.first?.matched.first?.id == full)
    }
}
