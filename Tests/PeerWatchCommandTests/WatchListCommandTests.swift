import Foundation
import Testing

@Suite struct WatchListCommandTests {
    func workDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("peerwatch-wl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test func checkReportsCountsAndEveryProblem() throws {
        let directory = try workDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = directory.appendingPathComponent("good.txt").path
        try "btih:\(String(repeating: "a", count: 40)) one\nmd5:\(String(repeating: "b", count: 32))\n".write(toFile: good, atomically: true, encoding: .utf8)
        let bad = directory.appendingPathComponent("bad.txt").path
        try "btih:\(String(repeating: "a", count: 40))\nbtih:xyz\nfoo:\(String(repeating: "c", count: 40))\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let result = try CommandRunner.peerwatch(["watchlist", "check", "ncmec=" + good, bad])
        #expect(result.status == 1)
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.count == 4)
        #expect(lines[0].hasPrefix("\(good): OK: list \"ncmec\", format native, btih 1, md5 1; 0 duplicates; sha256 "))
        #expect(lines[1] == "\(bad): REFUSED, 2 problems:")
        #expect(lines[2] == "  \(bad):2: btih needs 40 hex digits, found \"xyz\"")
        #expect(lines[3].hasPrefix("  \(bad):3: unknown kind \"foo\""))
        #expect(try CommandRunner.peerwatch(["watchlist", "check", good]).status == 0)
    }

    @Test func fromTorrentPrintsNativeEntriesThatLoadBack() throws {
        let directory = try workDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // An info dictionary whose keys are not in the sorted order bencoding asks for, as some
        // clients write them: the infohash is the SHA-1 of its bytes as they are (sha1sum of the
        // dictionary's bytes: 714d0fa9...), not of a re-encoding (which would give cad7acf5...).
        let torrent = directory.appendingPathComponent("x.torrent").path
        let info = "d4:name5:x.bin6:lengthi1000e12:piece lengthi16384e6:pieces20:\(String(repeating: "p", count: 20))e"
        try "d8:announce14:http://t.x/ann4:info\(info)e".write(toFile: torrent, atomically: true, encoding: .utf8)
        let result = try CommandRunner.peerwatch(["watchlist", "from-torrent", "--pieces", torrent])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines[0] == "btih:714d0fa99de44a1261cb7233d75cd10b6ddf1d94 x.bin")
        #expect(lines[1] == "bt-piece:\(String(repeating: "70", count: 20)) x.bin piece 0")
        let list = directory.appendingPathComponent("from-torrent.txt").path
        try result.standardOutput.write(toFile: list, atomically: true, encoding: .utf8)
        #expect(try CommandRunner.peerwatch(["watchlist", "check", list]).status == 0)
        #expect(try CommandRunner.peerwatch(["watchlist", "from-torrent", list]).status == 1)
    }

    @Test func keygenSignAndCheckWithTheKey() throws {
        let directory = try workDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let name = directory.appendingPathComponent("iwf").path
        #expect(try CommandRunner.peerwatch(["watchlist", "keygen", name]).status == 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: name + ".key")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        let list = directory.appendingPathComponent("list.txt").path
        try "sha1:\(String(repeating: "d", count: 40)) signed\n".write(toFile: list, atomically: true, encoding: .utf8)
        #expect(try CommandRunner.peerwatch(["watchlist", "check", "--watchlist-key", name + ".pub", list]).status == 1)
        #expect(try CommandRunner.peerwatch(["watchlist", "sign", "--key", name + ".key", list]).status == 0)
        let signed = try CommandRunner.peerwatch(["watchlist", "check", "--watchlist-key", name + ".pub", list])
        #expect(signed.status == 0)
        #expect(signed.standardOutput.hasSuffix("; signed by iwf\n"))
        try "sha1:\(String(repeating: "e", count: 40)) altered\n".write(toFile: list, atomically: true, encoding: .utf8)
        let altered = try CommandRunner.peerwatch(["watchlist", "check", "--watchlist-key", name + ".pub", list])
        #expect(altered.status == 1)
        #expect(altered.standardOutput.contains("signature does not verify with any configured key"))
    }

    @Test func statsDescribesTheStateFile() throws {
        let directory = try workDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = try CommandRunner.peerwatch(["watchlist", "stats", "--state-dir", directory.path])
        #expect(missing.status == 1)
        #expect(missing.standardError.contains("no watch-list state"))
        let state = """
            {"generation": 2, "loaded_at": "2026-11-23T10:00:00Z", "entries": 3, "duplicates": 1, "index_bytes": 786000,
             "kinds": {"btih": 2, "md5": 1},
             "lists": [{"name": "iwf", "path": "/lists/iwf.csv", "format": "csv", "sha256": "ab12", "entries": {"btih": 2, "md5": 1}, "signer": "iwf-2026"}]}
            """
        try state.write(to: directory.appendingPathComponent("watchlist.json"), atomically: true, encoding: .utf8)
        let result = try CommandRunner.peerwatch(["watchlist", "stats", "--state-dir", directory.path])
        #expect(result.status == 0)
        #expect(result.standardOutput == """
            generation 2, loaded 2026-11-23T10:00:00Z: 3 entries (btih 2, md5 1), 1 duplicates dropped, index 786000 bytes
              iwf: csv /lists/iwf.csv, btih 2, md5 1, sha256 ab12, signed by iwf-2026

            """)
    }
}
