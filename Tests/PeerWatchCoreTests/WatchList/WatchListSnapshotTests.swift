import Testing
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
