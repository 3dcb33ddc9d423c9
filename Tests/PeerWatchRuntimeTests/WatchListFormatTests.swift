import Crypto
import Foundation
import Logging
import Testing
import PeerWatchCore
import PeerWatchTestSupport
@testable import PeerWatchRuntime

@Suite struct WatchListFormatTests {
    let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709"
    let md5 = "d41d8cd98f00b204e9800998ecf8427e"
    let btih = "dcfcdccfb9e670ccc3dd40c78c161f2bea243126"

    func problems(_ specs: [WatchListSpec], keys: TrustedKeys = .none) -> [ConfigurationError] {
        do {
            _ = try WatchListLoader.load(specs, keys: keys)
            return []
        } catch {
            return error.problems
        }
    }

    func id(_ kind: ContentID.Kind, _ hex: String) throws -> ContentID { try #require(ContentID(kind: kind, hex: hex)) }

    @Test func specsNameFormatsAndPaths() {
        #expect(WatchListSpec(parsing: "ncmec=md5:/lists/ncmec.txt") == WatchListSpec(path: "/lists/ncmec.txt", name: "ncmec", format: .md5))
        #expect(WatchListSpec(parsing: "torrent+pieces:/t") == WatchListSpec(path: "/t", format: .torrentPieces))
        #expect(WatchListSpec(parsing: "/lists/a=b.txt") == WatchListSpec(path: "/lists/a=b.txt"))
        #expect(WatchListSpec(parsing: "lists/iwf.csv").listName == "iwf")
        #expect(WatchListSpec(parsing: "c:/x").format == nil)
    }

    @Test func csvColumnsInAnyOrderWithQuotesAndSources() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("iwf.csv", text: """
            Category,Hash,Label,Kind,Source,Extra
            2,\(sha1.uppercased()),"series ""17"", part 1",sha1,IWF,x
            1,\(md5),,md5,,
            ,3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ,base32,sha1,,

            """)
        let snapshot = try WatchListLoader.load([WatchListSpec(parsing: path)])
        let hit = try #require(snapshot.lookup(try id(.sha1, sha1)))
        #expect(hit.entry.label == "series \"17\", part 1 (IWF)")
        #expect(hit.entry.category == "2")
        #expect(hit.entry.line == 2)
        #expect(hit.source.format == "csv")
        #expect(snapshot.lookup(try id(.md5, md5))?.entry.category == "1")
        #expect(snapshot.duplicates == 1)   // the base32 row is the same SHA-1
        let bad = try directory.write("bad.csv", text: "kind,hash\nsha1,zz\ncrc,\(sha1)\n\"sha1\",\"\(sha1)\"\n")
        #expect(problems([WatchListSpec(parsing: bad)]).map(\.line) == [2, 3])
        let noKind = try directory.write("nokind.csv", text: "hash,label\n\(sha1),x\n")
        #expect(problems([WatchListSpec(parsing: noKind)]).map(\.line) == [1])
    }

    @Test func magnetAndEd2kLinkLists() throws {
        let directory = try TemporaryDirectory()
        let magnets = try directory.write("m.txt", text: """
            # links from a takedown notice
            magnet:?xt=urn:btih:\(btih)&dn=Demo+Series%2017&xt.1=urn:sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ
            magnet:?dn=nothing

            """)
        #expect(problems([WatchListSpec(parsing: magnets)]).map(\.line) == [3])
        let good = try directory.write("good.txt", text: "magnet:?xt=urn:btih:\(btih)&dn=Demo+Series%2017&xt.1=urn:sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ\n")
        let snapshot = try WatchListLoader.load([WatchListSpec(parsing: good)])
        #expect(snapshot.sources[0].format == "magnet")
        #expect(snapshot.lookup(try id(.btih, btih))?.entry.label == "Demo Series 17")
        #expect(snapshot.lookup(try id(.sha1, sha1))?.entry.line == 1)
        let links = try directory.write("e.txt", text: "ed2k://|file|Demo%20File.avi|734003200|31D6CFE0D16AE931B73C59D7E0C089C0|/\ned2k://|server|1.2.3.4|4661|/\n")
        #expect(problems([WatchListSpec(parsing: links)]).map(\.line) == [2])
        let ed2k = try directory.write("e2.txt", text: "ed2k://|file|Demo%20File.avi|734003200|31D6CFE0D16AE931B73C59D7E0C089C0|h=ABC|/\n")
        let snapshot2 = try WatchListLoader.load([WatchListSpec(parsing: ed2k)])
        #expect(snapshot2.lookup(try id(.ed2k, "31d6cfe0d16ae931b73c59d7e0c089c0"))?.entry.label == "Demo File.avi")
    }

    @Test func torrentFilesAndDirectoriesWithPieces() throws {
        let directory = try TemporaryDirectory()
        var random = SeededGenerator(seed: 7)
        let hybrid = TorrentFixtures.hybridInfo(name: "hybrid", length: 40_000, using: &random)
        let single = TorrentFixtures.singleFileInfo(name: "single", length: 600_000, using: &random)
        try FileManager.default.createDirectory(atPath: directory.path + "/torrents/sub", withIntermediateDirectories: true)
        _ = try directory.write("torrents/a.torrent", TorrentFixtures.torrentFile(info: hybrid))
        _ = try directory.write("torrents/sub/b.torrent", TorrentFixtures.torrentFile(info: single))
        _ = try directory.write("torrents/readme.txt", text: "not a torrent")
        let snapshot = try WatchListLoader.load([WatchListSpec(parsing: "torrent+pieces:" + directory.path + "/torrents")])
        let v1 = try #require(ContentID(kind: .btih, bytes: Array(Insecure.SHA1.hash(data: hybrid.encoded))))
        let v2 = try #require(ContentID(kind: .btihV2, bytes: Array(SHA256.hash(data: hybrid.encoded))))
        #expect(snapshot.lookup(v1)?.entry.label == "hybrid")
        #expect(snapshot.lookup(v2)?.entry.label == "hybrid")
        #expect(snapshot.sources[0].name == "torrents")
        #expect(snapshot.countsByKind[.btih] == 2)
        #expect(snapshot.countsByKind[.btihV2] == 1)
        #expect(snapshot.countsByKind[.btPiece] == 3 + 3)   // 40 KB in 16 KiB pieces, 600 KB in 256 KiB pieces
        let file = try WatchListLoader.load([WatchListSpec(parsing: directory.path + "/torrents/sub/b.torrent")])
        #expect(file.countsByKind == [.btih: 1])
        let empty = try TemporaryDirectory()
        #expect(problems([WatchListSpec(path: empty.path)]).map(\.code) == [.empty])
        let broken = try directory.write("broken.torrent", text: "d8:announce3:abce")
        #expect(problems([WatchListSpec(parsing: broken)]).count == 1)
    }

    @Test func vicsExportsWithCategories() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("vics.json", text: """
            {"@odata.context":"http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/$metadata#Media",
             "value":[{"MediaID":1,"Category":1,"MD5":"\(md5.uppercased())","SHA1":"\(sha1.uppercased())","MediaSize":2835},
                      {"MediaID":2,"Category":"2","MD5":"\(String(repeating: "a", count: 32))"}]}
            """)
        let snapshot = try WatchListLoader.load([WatchListSpec(parsing: path)])
        #expect(snapshot.sources[0].format == "vics")
        let hit = try #require(snapshot.lookup(try id(.sha1, sha1)))
        #expect(hit.entry.category == "1")
        #expect(hit.entry.label == "MediaID 1")
        #expect(snapshot.lookup(try id(.md5, String(repeating: "a", count: 32)))?.entry.category == "2")
        let bad = try directory.write("bad.json", text: #"{"value":[{"MD5":"xyz"},{"Category":1},7]}"#)
        #expect(problems([WatchListSpec(parsing: bad)]).map(\.message) == [
            "value[0].MD5: not 32 hex digits: \"xyz\"", "value[1] has neither MD5 nor SHA1", "value[2] is not an object",
        ])
        // Problems name the line the record starts on.
        let lines = try directory.write("lines.json", text: "{\"value\": [\n  {\"MD5\": \"\(md5)\"},\n  {\"MD5\": \"short\"}\n]}\n")
        #expect(problems([WatchListSpec(parsing: lines)]).map(\.line) == [3])
        let notJSON = try directory.write("x.json", text: "{")
        #expect(problems([WatchListSpec(parsing: notJSON)]).count == 1)
    }

    @Test func plainHashListsNeedTheirKind() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("ncmec.txt", text: "\(md5)\n\(md5.uppercased())  duplicate\n# comment\n\(String(repeating: "b", count: 32)) label here\n")
        #expect(problems([WatchListSpec(path: path)]).first?.code == .unknownFormat)
        let snapshot = try WatchListLoader.load([WatchListSpec(parsing: "md5:" + path)])
        #expect(snapshot.countsByKind == [.md5: 2])
        #expect(snapshot.duplicates == 1)
        #expect(snapshot.lookup(try id(.md5, String(repeating: "b", count: 32)))?.entry.label == "label here")
        #expect(problems([WatchListSpec(parsing: "sha1:" + path)]).map(\.line) == [1, 2, 4])
    }

    @Test func hugeLinesWrongEncodingsAndEmptyFiles() throws {
        let directory = try TemporaryDirectory()
        let huge = try directory.write("huge.txt", Array(("btih:\(btih) " + String(repeating: "x", count: 10_000) + "\n").utf8))
        #expect(problems([WatchListSpec(parsing: huge)]).map(\.code) == [.malformedLine])
        let latin1 = try directory.write("latin1.txt", Array("btih:\(btih) caf".utf8) + [0xE9] + [0x0A])
        #expect(problems([WatchListSpec(parsing: latin1)]).map(\.code) == [.badEncoding])
        let utf16 = try directory.write("utf16.txt", [0xFF, 0xFE] + Array("btih:\(btih)\n".utf8).flatMap { [$0, 0] })
        #expect(!problems([WatchListSpec(parsing: "native:" + utf16)]).isEmpty)
        let empty = try directory.write("empty.txt", [])
        #expect(problems([WatchListSpec(parsing: "native:" + empty)]).map(\.code) == [.empty])
        let twice = problems([WatchListSpec(parsing: "a=" + huge), WatchListSpec(parsing: "a=" + latin1)])
        #expect(twice.contains { $0.code == .badValue })
    }

    @Test func signedListsVerifyAgainstConfiguredKeys() throws {
        let directory = try TemporaryDirectory()
        let signing = Curve25519.Signing.PrivateKey()
        let other = Curve25519.Signing.PrivateKey()
        let keyPath = try directory.write("iwf-2026.pub", text: Hex.encode(Array(signing.publicKey.rawRepresentation)) + "\n")
        let keys = try TrustedKeys.load(paths: [keyPath])
        let list = try directory.write("list.txt", text: "btih:\(btih) signed\n")
        let data = try Data(contentsOf: URL(fileURLWithPath: list))
        // The signed message, as the README gives it: the prefix, then the list's SHA-256 in hex.
        let message = Array("peerwatch-watchlist-sha256:\(Hex.encode(Array(SHA256.hash(data: data))))".utf8)
        #expect(problems([WatchListSpec(path: list)], keys: keys).map(\.code) == [.unsigned])
        _ = try directory.write("list.txt.sig", Array(try other.signature(for: message)))
        #expect(problems([WatchListSpec(path: list)], keys: keys).map(\.code) == [.badSignature])
        // A signature of the file's bytes themselves is not one of the list.
        _ = try directory.write("list.txt.sig", Array(try signing.signature(for: data)))
        #expect(problems([WatchListSpec(path: list)], keys: keys).map(\.code) == [.badSignature])
        _ = try directory.write("list.txt.sig", text: Data(try signing.signature(for: message)).base64EncodedString())
        let snapshot = try WatchListLoader.load([WatchListSpec(path: list)], keys: keys)
        #expect(snapshot.sources[0].signer == "iwf-2026")
        // An edited list no longer verifies.
        _ = try directory.write("list.txt", text: "btih:\(btih) signed, then edited\n")
        #expect(problems([WatchListSpec(path: list)], keys: keys).map(\.code) == [.badSignature])
        let notAKey = try directory.write("bad.pub", text: "hello")
        #expect(throws: ConfigurationError.self) { try TrustedKeys.load(paths: [notAKey]) }
    }
}

@Suite struct LargeWatchListTests {
    /// Longer than one piece read, so lines are cut between pieces.
    @Test func linesCutBetweenPiecesKeepExactLineNumbers() throws {
        let directory = try TemporaryDirectory()
        let lines = 200_000
        var text = ""
        text.reserveCapacity(lines * 50)
        for index in 0 ..< lines {
            text += "btih:" + String(format: "%08x", index) + String(repeating: "0", count: 32) + (index % 1_000 == 0 ? " label \(index % 7)" : "") + "\n"
        }
        // The first line's digest again, near the end: a duplicate across the halves.
        text += "btih:" + String(format: "%08x", 0) + String(repeating: "0", count: 32) + " late duplicate\n"
        let path = try directory.write("big.txt", text: text)
        #expect(text.utf8.count > 2 * WatchListFile.pieceSize)
        let snapshot = try WatchListLoader.load([WatchListSpec(path: path)])
        #expect(snapshot.count == lines)
        #expect(snapshot.duplicates == 1)
        let first = try #require(ContentID(kind: .btih, hex: String(format: "%08x", 0) + String(repeating: "0", count: 32)))
        #expect(snapshot.lookup(first)?.entry.line == 1)
        #expect(snapshot.lookup(first)?.entry.label == "label 0")
        let late = try #require(ContentID(kind: .btih, hex: String(format: "%08x", 199_000) + String(repeating: "0", count: 32)))
        #expect(snapshot.lookup(late)?.entry.line == 199_001)
        #expect(snapshot.lookup(late)?.entry.label == "label \(199_000 % 7)")
        // A bad line deep in the second half is reported at its own line.
        let bad = text + "btih:nothex\n"
        let badPath = try directory.write("bad.txt", text: bad)
        do {
            _ = try WatchListLoader.load([WatchListSpec(path: badPath)])
            Issue.record("loaded a list with a bad line")
        } catch {
            #expect(error.problems.map(\.line) == [lines + 2])
        }
    }
}

/// Fault 7 and 14: lists as files can be, and at the sizes bodies hand out.
@Suite struct WatchListFileTests {
    /// A list of 64 KiB of blank lines and then a 2 GB sparse hole aborted the process ("failed
    /// to allocate 43777248492 bytes"): the reservation followed the blank lines. It is refused
    /// with a reason, and nothing is reserved for lines that hold no entry.
    @Test func blankLinesThenAHugeHoleAreRefusedNotFatal() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("holey.txt", [UInt8](repeating: 0x0A, count: 64 * 1024))
        #expect(truncate(path, off_t(2_000_000_000)) == 0)
        do {
            _ = try WatchListLoader.load([WatchListSpec(parsing: "native:" + path)])
            Issue.record("a 2 GB hole loaded as a list")
        } catch {
            #expect(error.problems.map(\.line) == [65_537])
            #expect(error.problems.first?.message == "line is \(2_000_000_000 - 64 * 1024) bytes long; an entry is at most 4096")
        }
    }

    /// A list truncated while it was mapped killed the process with SIGBUS. It is read, not
    /// mapped, and a file that changes while it is read is refused.
    @Test func aListThatChangesWhileItIsReadIsRefused() throws {
        let directory = try TemporaryDirectory()
        let line = "btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126 x\n"
        let path = try directory.write("moving.txt", text: String(repeating: line, count: 3 * WatchListFile.pieceSize / line.utf8.count))
        var pieces = 0
        #expect(throws: ConfigurationError.self) {
            _ = try WatchListFile.read(path) { _ in
                pieces += 1
                if pieces == 1 { _ = truncate(path, off_t(WatchListFile.pieceSize + 10)) }
            }
        }
        _ = try directory.write("moving.txt", text: String(repeating: line, count: 3 * WatchListFile.pieceSize / line.utf8.count))
        var appended = false
        do {
            _ = try WatchListFile.read(path) { _ in
                // Appended to once while read.
                guard !appended else { return }
                appended = true
                if let handle = FileHandle(forWritingAtPath: path) {
                    handle.seekToEndOfFile()
                    handle.write(Data(line.utf8))
                    try? handle.close()
                }
            }
            Issue.record("a growing file was read as a whole list")
        } catch {
            #expect(error.message.hasPrefix("the file changed while it was read"))
        }
    }

    /// Fault 13: a list that cannot be read said so without the reason.
    @Test func anUnreadableListSaysWhy() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/missing-dir/list.txt"
        #expect(throws: ConfigurationError.self) { try WatchListFile.sample(path) }
        let file = try directory.write("dir.txt", text: "btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126\n")
        chmod(file, 0)
        defer { chmod(file, 0o644) }
        if geteuid() != 0 {
            do {
                _ = try WatchListLoader.load([WatchListSpec(path: file)])
                Issue.record("read a list with mode 0")
            } catch {
                #expect(error.problems.first?.message == "cannot read the watch list: Permission denied")
            }
        }
    }

    /// The state file describing the lists is readable by the service and its group only.
    @Test func theStateFileIsNotWorldReadable() throws {
        let directory = try TemporaryDirectory()
        let list = try directory.write("l.txt", text: "btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126\n")
        _ = try WatchListStore(specs: [WatchListSpec(path: list)], stateDirectory: directory.path, logger: Logger(label: "t"))
        let mode = try FileManager.default.attributesOfItem(atPath: directory.path + "/watchlist.json")[.posixPermissions] as? Int
        #expect(mode == 0o640)
    }
}
