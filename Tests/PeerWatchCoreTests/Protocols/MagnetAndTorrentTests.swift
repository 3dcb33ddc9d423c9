import Crypto
import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

@Suite struct MagnetLinkTests {
    func parse(_ text: String) -> [String] {
        var found: [String] = []
        _ = Array(text.utf8).withUnsafeBytes { MagnetLink.parse($0) { found.append($0.description) } }
        return found
    }

    func scan(_ text: String) -> [String] {
        var found: [String] = []
        _ = Array(text.utf8).withUnsafeBytes { MagnetLink.scan($0) { found.append($0.description) } }
        return found
    }

    @Test func everyExactTopicKind() {
        let link = "magnet:?xt=urn:btih:DCFCDCCFB9E670CCC3DD40C78C161F2BEA243126&dn=a&xt.1=urn:btmh:1220" + String(repeating: "ab", count: 32)
            + "&xt.2=urn:sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ&xt.3=urn:ed2k:31d6cfe0d16ae931b73c59d7e0c089c0"
            + "&xt.4=urn:tree:tiger:LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ&xt.5=urn:md5:d41d8cd98f00b204e9800998ecf8427e"
            + "&xt.6=urn:bitprint:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ.LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ"
        #expect(parse(link) == [
            "btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126",
            "btih-v2:" + String(repeating: "ab", count: 32),
            "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "ed2k:31d6cfe0d16ae931b73c59d7e0c089c0",
            "tth:5d9ed00a030e638bdb753a6a24fb900e5a63b8e73e6c25b6",
            "md5:d41d8cd98f00b204e9800998ecf8427e",
            "sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
            "tth:5d9ed00a030e638bdb753a6a24fb900e5a63b8e73e6c25b6",
        ])
    }

    @Test func base32InfohashesAndPercentEncodedTopics() {
        // The same infohash in base32, and a percent-encoded topic.
        #expect(parse("magnet:?xt=urn:btih:3T6NZT5Z4ZYMZQ65IDDYYFQ7FPVCIMJG") == ["btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126"])
        #expect(parse("magnet:?dn=x&xt=urn%3Abtih%3Adcfcdccfb9e670ccc3dd40c78c161f2bea243126") == ["btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126"])
    }

    @Test func findsLinksInHTMLAndEncodedInQueries() {
        let html = #"<a href="magnet:?xt=urn:btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126&amp;dn=x&amp;xt=urn:btih:0000000000000000000000000000000000000001">x</a> MAGNET:?xt=urn:btih:0f6b9cd2b7da4de9b6c846203920e3da49cdb795"#
        #expect(scan(html) == ["btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126", "btih:0000000000000000000000000000000000000001",
                               "btih:0f6b9cd2b7da4de9b6c846203920e3da49cdb795"])
        let request = "GET /add?uri=magnet%3A%3Fxt%3Durn%3Abtih%3Adcfcdccfb9e670ccc3dd40c78c161f2bea243126%26dn%3Dy&x=1 HTTP/1.1"
        #expect(scan(request) == ["btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126"])
    }

    @Test(arguments: [
        "magnet:?xt=urn:btih:dcfcdccfb9e670ccc3dd40c78c161f2bea24312",      // 39 hex
        "magnet:?xt=urn:btih:zcfcdccfb9e670ccc3dd40c78c161f2bea243126",     // not hex
        "magnet:?xs=urn:btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126",     // not an exact topic
        "magnet:?xt=urn:btmh:1114" + String(repeating: "ab", count: 20),      // SHA-1 multihash is not v2
        "magnet:?xt=urn:sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBY1",
        "magnet:?xt=%zz",
        "magnet:",
    ])
    func badTopicsYieldNothing(link: String) {
        #expect(parse(link).isEmpty)
    }

    @Test func streamScannerFindsLinksCutAcrossPieces() {
        let body = Array(("<html>" + String(repeating: "x", count: 300) + "<a href=\"magnet:?xt=urn:btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126&dn=abc\">a</a>"
            + String(repeating: "y", count: 100) + "magnet%3A%3Fxt%3Durn%3Abtih%3A0f6b9cd2b7da4de9b6c846203920e3da49cdb795 end").utf8)
        for size in [1, 3, 11, 12, 50, 97, body.count] {
            var scanner = MagnetStreamScanner()
            var found: [String] = []
            for start in stride(from: 0, to: body.count, by: size) {
                Array(body[start ..< min(body.count, start + size)]).withUnsafeBytes { scanner.consume($0) { found.append($0.hex) } }
            }
            #expect(found == ["dcfcdccfb9e670ccc3dd40c78c161f2bea243126", "0f6b9cd2b7da4de9b6c846203920e3da49cdb795"], "piece size \(size)")
        }
    }

    @Test func randomTextNeverTraps() {
        var random = SeededGenerator(seed: 8)
        let alphabet = Array("magnet:?xt=urn:btih:%3A3Fabcdef0123&;\" <>".utf8)
        for _ in 0 ..< 20_000 {
            let text = (0 ..< Int(random.next() % 120)).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            _ = text.withUnsafeBytes { MagnetLink.scan($0) { _ in } }
        }
    }
}

@Suite struct TorrentInfoTests {
    @Test func hashesTheExactInfoBytesOfAV1Torrent() throws {
        var random = SeededGenerator(seed: 1)
        let info = TorrentFixtures.singleFileInfo(name: "demo.mkv", length: 1_000_000, using: &random)
        let file = TorrentFixtures.torrentFile(info: info)
        let expected = Hex.encode(Array(Insecure.SHA1.hash(data: info.encoded)))
        let parsed = try #require(file.withUnsafeBytes { TorrentInfo(torrentFile: $0) })
        #expect(parsed.infoHashV1?.hex == expected)
        #expect(parsed.infoHashV2 == nil)
        #expect(parsed.name == "demo.mkv")
        #expect(parsed.totalLength == 1_000_000)
        #expect(parsed.fileCount == 1)
        #expect(parsed.pieceCount == 4)
        #expect(parsed.pieceLength == 262_144)
        #expect(file.withUnsafeBytes { TorrentInfo.looksLikeTorrentFile($0) })
    }

    @Test func aHybridTorrentHasBothInfohashes() throws {
        var random = SeededGenerator(seed: 2)
        let info = TorrentFixtures.hybridInfo(name: "h", length: 40_000, using: &random)
        let parsed = try #require(TorrentFixtures.torrentFile(info: info).withUnsafeBytes { TorrentInfo(torrentFile: $0) })
        #expect(parsed.infoHashV1?.hex == Hex.encode(Array(Insecure.SHA1.hash(data: info.encoded))))
        #expect(parsed.infoHashV2?.hex == Hex.encode(Array(SHA256.hash(data: info.encoded))))
    }

    /// The infohash is the SHA-1 of the info dictionary's bytes as the file has them: here its
    /// keys are out of bencoding's sorted order (values from sha1sum, apart from PeerWatch).
    @Test func theInfohashIsOfTheBytesAsWrittenNotOfARecoding() throws {
        let info = "d4:name5:x.bin6:lengthi1000e12:piece lengthi16384e6:pieces20:" + String(repeating: "p", count: 20) + "e"
        let file = Array("d8:announce14:http://t.x/ann4:info\(info)e".utf8)
        let parsed = try #require(file.withUnsafeBytes { TorrentInfo(torrentFile: $0) })
        #expect(parsed.infoHashV1?.hex == "714d0fa99de44a1261cb7233d75cd10b6ddf1d94")
        #expect(parsed.name == "x.bin")
    }

    @Test func refusesWhatIsNotATorrent() {
        #expect(Array("d8:announce3:abce".utf8).withUnsafeBytes { TorrentInfo(torrentFile: $0) } == nil)
        #expect(Array("d4:infod4:name1:xee".utf8).withUnsafeBytes { TorrentInfo(torrentFile: $0) } == nil)   // no pieces, not v2
        #expect(Array("<html>".utf8).withUnsafeBytes { TorrentInfo.looksLikeTorrentFile($0) } == false)
    }
}

@Suite struct HTTPResponseScannerTests {
    func run(_ stream: [UInt8], size: Int) -> (torrents: [[UInt8]], magnets: [String], finished: Bool) {
        var scanner = HTTPResponseScanner()
        let (torrents, magnets) = feed(&scanner, stream, size: size)
        return (torrents, magnets, scanner.isFinished)
    }

    /// Feeds `stream` in pieces of `size`, checking that the budget is always what the scanner
    /// holds short of the whole.
    func feed(_ scanner: inout HTTPResponseScanner, _ stream: [UInt8], size: Int, budget: inout Int, total: Int? = nil) -> (torrents: [[UInt8]], magnets: [String]) {
        var torrents: [[UInt8]] = []
        var magnets: [String] = []
        let start = budget + scanner.bytesHeld
        for offset in stride(from: 0, to: stream.count, by: size) {
            Array(stream[offset ..< min(stream.count, offset + size)]).withUnsafeBytes { raw in
                scanner.consume(.data(raw), budget: &budget) { finding in
                    switch finding {
                    case .torrentFile(let bytes): torrents.append(Array(bytes))
                    case .magnet(let id): magnets.append(id.hex)
                    case .headers: break
                    }
                }
            }
            #expect(budget + scanner.bytesHeld == start)
        }
        return (torrents, magnets)
    }

    func feed(_ scanner: inout HTTPResponseScanner, _ stream: [UInt8], size: Int) -> (torrents: [[UInt8]], magnets: [String]) {
        var budget = 64 << 20
        return feed(&scanner, stream, size: size, budget: &budget)
    }

    /// Fault 6: a .torrent body without Content-Length was re-parsed whole after every segment
    /// that ended in "e" (1 MiB: 1.4 s, 8 MiB: 78 s). Each byte is now looked at once.
    @Test func aBodyWithoutLengthIsLookedAtOnce() throws {
        // A torrent whose every segment ends in "e": a 4 MiB list of 1-byte strings "1:e".
        var list = Array("d8:announce3:abc4:infod4:name1:x12:piece lengthi16384e6:pieces20:".utf8) + [UInt8](repeating: 7, count: 20)
        list += Array("5:extral".utf8)
        while list.count < 4 << 20 { list += Array("1:e".utf8) }
        list += Array("eee".utf8)
        let stream = Array("HTTP/1.1 200 OK\r\nContent-Type: application/x-bittorrent\r\n\r\n".utf8) + list
        var scanner = HTTPResponseScanner()
        let (torrents, _) = feed(&scanner, stream, size: 1_461)
        #expect(torrents == [list])
        #expect(scanner.bytesExaminedForEnd == list.count)
    }

    /// Fault 8: each flow could hold 8 MiB of body; 60 flows took 524 MB. The bodies of all
    /// flows now share one budget: past it, a body is not collected, and that is counted.
    @Test func collectedBodiesShareOneBudget() throws {
        var random = SeededGenerator(seed: 9)
        let torrent = TorrentFixtures.torrentFile(info: TorrentFixtures.singleFileInfo(name: "a", length: 2_000_000_000, using: &random))
        #expect(torrent.count > 100_000)
        let head = Array("HTTP/1.1 200 OK\r\nContent-Type: application/x-bittorrent\r\nContent-Length: \(torrent.count)\r\n\r\n".utf8)
        let budgetTotal = torrent.count
        var budget = budgetTotal
        var first = HTTPResponseScanner(), second = HTTPResponseScanner()
        // Both flows are half-way through their bodies: the second does not fit.
        _ = feed(&first, head + torrent.prefix(torrent.count * 2 / 3), size: 1_460, budget: &budget)
        _ = feed(&second, head + torrent.prefix(torrent.count * 2 / 3), size: 1_460, budget: &budget)
        #expect(first.bytesHeld == torrent.count * 2 / 3)
        #expect(second.bytesHeld == 0)
        #expect(second.bodiesOverBudget == 1)
        #expect(budget == budgetTotal - first.bytesHeld)
        // The first one completes and gives its bytes back.
        let (torrents, _) = feed(&first, Array(torrent.suffix(from: torrent.count * 2 / 3)), size: 1_460, budget: &budget)
        #expect(torrents.count == 1)
        #expect(torrents.first == torrent)
        #expect(first.bytesHeld == 0)
        #expect(budget == budgetTotal)
    }

    @Test func collectsTorrentsAndMagnetsAcrossKeepAliveResponses() {
        var random = SeededGenerator(seed: 3)
        let torrent = TorrentFixtures.torrentFile(info: TorrentFixtures.singleFileInfo(name: "a", length: 5_000_000, using: &random))
        let page = Array("<p>magnet:?xt=urn:btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126</p>".utf8)
        var chunkedPage = Array("\(String(page.count / 2, radix: 16))\r\n".utf8) + Array(page[0 ..< page.count / 2]) + Array("\r\n".utf8)
        chunkedPage += Array("\(String(page.count - page.count / 2, radix: 16));ext=1\r\n".utf8) + Array(page[(page.count / 2)...]) + Array("\r\n0\r\n\r\n".utf8)
        let stream = Array("HTTP/1.1 200 OK\r\nContent-Type: application/x-bittorrent\r\nContent-Length: \(torrent.count)\r\n\r\n".utf8) + torrent
            + Array("HTTP/1.1 304 Not Modified\r\n\r\n".utf8)
            + Array("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n".utf8) + chunkedPage
            + Array("HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 40\r\n\r\n".utf8) + Array("magnet:?xt=urn:btih:0f6b9cd2b7da4de9b6c846203920e3da49cdb795".utf8.prefix(40))
            + Array("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n".utf8) + torrent
        for size in [1, 7, 100, 1_460, stream.count] {
            let result = run(stream, size: size)
            #expect(result.torrents.count == 2, "size \(size)")
            #expect(result.torrents.allSatisfy { $0 == torrent }, "size \(size)")
            #expect(result.magnets == ["dcfcdccfb9e670ccc3dd40c78c161f2bea243126"], "size \(size)")
        }
    }

    @Test func letsGoOfNonHTTPAndOversizedHeaders() {
        #expect(run([0x16, 0x03, 0x01, 0, 5], size: 5).finished)
        let huge = Array("HTTP/1.1 200 OK\r\n".utf8) + [UInt8](repeating: 0x41, count: HTTPResponseScanner.maxHeaderBlock)
        #expect(run(huge, size: 1_000).finished)
        let badChunk = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".utf8)
        #expect(run(badChunk, size: 3).finished)
    }

    @Test func gzipBodiesAreNotScanned() {
        let stream = Array("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\nContent-Length: 61\r\n\r\nmagnet:?xt=urn:btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126 ".utf8)
        #expect(run(stream, size: 10).magnets.isEmpty)
    }

    @Test func randomStreamsNeverTrap() {
        var random = SeededGenerator(seed: 4)
        let prefix = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n".utf8)
        for _ in 0 ..< 3_000 {
            var stream = prefix + random.bytes(Int(random.next() % 200))
            for _ in 0 ..< 3 { stream[Int(random.next() % UInt64(stream.count))] = [0x0D, 0x0A, 0x30, 0x3A, 0x66][Int(random.next() % 5)] }
            _ = run(stream, size: 1 + Int(random.next() % 30))
        }
    }
}
