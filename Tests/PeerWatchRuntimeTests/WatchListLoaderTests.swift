import Testing
import PeerWatchCore
@testable import PeerWatchRuntime

@Suite struct WatchListLoaderTests {
    @Test func loadsEntriesCommentsBlankLinesAndLabels() throws {
        let directory = try TemporaryDirectory()
        let list = try directory.write("iwf.txt", [0xEF, 0xBB, 0xBF] + Array("""
            # a comment
               
            btih:DCFCDCCFB9E670CCC3DD40C78C161F2BEA243126   series 17  
            \tsha1:da39a3ee5e6b4b0d3255bfef95601890afd80709
            ed2k:31d6cfe0d16ae931b73c59d7e0c089c0 label with # hash
            tth:lwpnacqdbzryxw3vhjvcj64qbznghohhhzwclnq

            """.replacingOccurrences(of: "tth:lwpnacqdbzryxw3vhjvcj64qbznghohhhzwclnq", with: "tth:" + String(repeating: "ab", count: 24)).utf8))
        let snapshot = try WatchListLoader.load(paths: [list])
        #expect(snapshot.count == 4)
        #expect(snapshot.sources.map(\.name) == ["iwf"])
        #expect(snapshot.countsByKind == [.btih: 1, .sha1: 1, .ed2k: 1, .tth: 1])
        let btih = try #require(ContentID(kind: .btih, hex: "dcfcdccfb9e670ccc3dd40c78c161f2bea243126"))
        let hit = try #require(snapshot.lookup(btih))
        #expect(hit.entry.label == "series 17")
        #expect(hit.entry.line == 3)
        let ed2k = try #require(ContentID(kind: .ed2k, hex: "31d6cfe0d16ae931b73c59d7e0c089c0"))
        #expect(snapshot.lookup(ed2k)?.entry.label == "label with # hash")
        let sha1 = try #require(ContentID(kind: .sha1, hex: "da39a3ee5e6b4b0d3255bfef95601890afd80709"))
        #expect(snapshot.lookup(sha1)?.entry.label == nil)
        // SHA-256 of the file's bytes, as `sha256sum` prints it.
        #expect(snapshot.sources[0].sha256.count == 64)
    }

    @Test func reportsEveryBadLineWithFileAndLine() throws {
        let directory = try TemporaryDirectory()
        let long = "btih:" + String(repeating: "a", count: 5_000)
        let list = try directory.write("bad.txt", Array("""
            btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126 ok
            crc32:deadbeef unknown kind
            btih:dcfcdccfb9e670ccc3dd40c78c161f2bea24312 short
            btih:zzfcdccfb9e670ccc3dd40c78c161f2bea243126 not hex
            just some text
            \(long)

            """.utf8) + [0xFF, 0xFE, 0x0A])
        do {
            _ = try WatchListLoader.load(paths: [list])
            Issue.record("a bad list loaded")
        } catch {
            #expect(error.problems.map(\.line) == [2, 3, 4, 5, 6, 7])
            #expect(error.problems.map(\.code) == [.unknownKind, .badDigest, .badDigest, .malformedLine, .malformedLine, .badEncoding])
            #expect(error.problems.allSatisfy { $0.file == list })
            #expect(error.problems[0].description == "\(list):2: unknown kind \"crc32\" (known: btih, btih-v2, ed2k, sha1, tth, md5, bt-piece)")
            #expect(error.problems[1].description == "\(list):3: btih needs 40 hex digits, found \"dcfcdccfb9e670ccc3dd40c78c161f2bea24312\"")
        }
    }

    @Test func refusesEmptyAndMissingFiles() throws {
        let directory = try TemporaryDirectory()
        let empty = try directory.write("empty.txt", text: "# only comments\n\n")
        do {
            _ = try WatchListLoader.load(paths: [empty, "\(directory.path)/missing.txt"])
            Issue.record("loaded")
        } catch {
            #expect(error.problems.map(\.code) == [.empty, .unreadable])
            #expect(error.problems.map(\.line) == [nil, nil])
        }
    }

    @Test func duplicatesAcrossListsKeepTheFirstList() throws {
        let directory = try TemporaryDirectory()
        let first = try directory.write("ncmec.txt", text: listedLine)
        let second = try directory.write("projectvic.txt", text: "btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126 other label\nbtih:\(String(repeating: "1", count: 40))\n")
        let snapshot = try WatchListLoader.load(paths: [first, second])
        #expect(snapshot.count == 2)
        #expect(snapshot.duplicates == 1)
        #expect(snapshot.loadedCounts == [[.btih: 1], [.btih: 2]])
        let id = try #require(ContentID(kind: .btih, hex: "dcfcdccfb9e670ccc3dd40c78c161f2bea243126"))
        #expect(snapshot.lookup(id)?.source.name == "ncmec")
        #expect(snapshot.lookup(id)?.entry.label == "series 17")
        #expect(snapshot.countsByKind == [.btih: 2])
    }
}
