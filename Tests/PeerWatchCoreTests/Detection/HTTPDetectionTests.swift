import Crypto
import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

@Suite struct HTTPDetectionTests {
    static let client = Endpoint(address: IPAddress(ipv4: 0xC633_6417), port: 41_000)
    static let server = Endpoint(address: IPAddress(ipv4: 0xCB00_7150), port: 80)

    func run(_ frames: [Frame], list: [ContentID]) -> [MatchAlert] {
        EngineHarness.matches(EngineHarness.run(frames, watchList: EngineHarness.watchList(list)))
    }

    @Test func aTorrentDownloadedOverHTTPMatchesWithItsDescription() throws {
        var random = SeededGenerator(seed: 12)
        let info = TorrentFixtures.hybridInfo(name: "series 17.mkv", length: 700_000, using: &random)
        let file = TorrentFixtures.torrentFile(info: info)
        let v1 = try #require(ContentID(kind: .btih, bytes: Array(Insecure.SHA1.hash(data: info.encoded))))
        let v2 = try #require(ContentID(kind: .btihV2, bytes: Array(SHA256.hash(data: info.encoded))))
        var tcp = TCPConversation(client: Self.client, server: Self.server, start: Timestamp(seconds: 1_795_000_000, microseconds: 0))
        var frames = tcp.open()
        frames += tcp.send(fromClient: true, Array("GET /dl/17.torrent HTTP/1.1\r\nHost: index.example\r\n\r\n".utf8))
        frames += tcp.send(fromClient: false, Array("HTTP/1.1 200 OK\r\nContent-Length: \(file.count)\r\n\r\n".utf8) + file, segmentSize: 536)
        let alerts = run(frames, list: [v1, v2])
        #expect(alerts.map(\.hit.entry.id) == [v1, v2])
        let first = try #require(alerts.first)
        #expect(first.observation.message == .httpTorrent)
        #expect(first.observation.proto == .http)
        #expect(first.observation.role == .seeking)
        #expect(first.source == Self.server)
        #expect(first.observation.context.torrent?.name == "series 17.mkv")
        #expect(first.observation.context.torrent?.totalLength == 700_000)
        #expect(first.timestamp == frames.last?.timestamp)
    }

    @Test func magnetLinksInPagesAndRequestsMatch() throws {
        let listed = try #require(ContentID(kind: .btih, hex: "dcfcdccfb9e670ccc3dd40c78c161f2bea243126"))
        let other = try #require(ContentID(kind: .sha1, hex: "da39a3ee5e6b4b0d3255bfef95601890afd80709"))
        var tcp = TCPConversation(client: Self.client, server: Self.server, start: Timestamp(seconds: 1_795_000_000, microseconds: 0))
        var frames = tcp.open()
        frames += tcp.send(fromClient: true, Array("GET /search?q=x HTTP/1.1\r\nHost: index.example\r\n\r\n".utf8))
        let page = "<html>" + String(repeating: "<p>row</p>", count: 200) + "<a href=\"magnet:?xt=urn:btih:DCFCDCCFB9E670CCC3DD40C78C161F2BEA243126&amp;dn=x\">get</a></html>"
        frames += tcp.send(fromClient: false, Array("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: \(page.utf8.count)\r\n\r\n\(page)".utf8), segmentSize: 700)
        var second = TCPConversation(client: Endpoint(address: Self.client.address, port: 41_001), server: Self.server,
                                     start: Timestamp(seconds: 1_795_000_010, microseconds: 0))
        frames += second.open()
        frames += second.send(fromClient: true, Array("GET /add?uri=magnet%3A%3Fxt%3Durn%3Asha1%3A3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ HTTP/1.1\r\n\r\n".utf8))
        let alerts = run(frames, list: [listed, other])
        #expect(alerts.map(\.hit.entry.id) == [listed, other])
        #expect(alerts.allSatisfy { $0.observation.message == .httpMagnet })
        #expect(alerts.first?.source == Self.server)
        #expect(alerts.last?.source.port == 41_001)
    }

    /// Compressed responses are read inflated: a gzip page's magnet link, a deflated .torrent
    /// (zlib as the RFC says, and raw as some servers send it), chunked or not.
    @Test(arguments: ["gzip", "deflate", "raw"])
    func compressedBodiesAreReadInflated(coding: String) throws {
        let listed = try #require(ContentID(kind: .btih, hex: "dcfcdccfb9e670ccc3dd40c78c161f2bea243126"))
        var random = SeededGenerator(seed: 21)
        let info = TorrentFixtures.singleFileInfo(name: "z.iso", length: 90_000, pieceLength: 16_384, using: &random)
        let torrentID = try #require(ContentID(kind: .btih, bytes: Array(Insecure.SHA1.hash(data: info.encoded))))
        func compress(_ bytes: [UInt8]) -> [UInt8] {
            switch coding {
            case "gzip": Deflate.gzip(bytes)
            case "deflate": Deflate.zlib(bytes)
            default: Deflate.raw(bytes)
            }
        }
        let header = coding == "gzip" ? "gzip" : "deflate"
        let page = compress(Array(("<html>" + String(repeating: "<p>row</p>", count: 500) + "magnet:?xt=urn:btih:DCFCDCCFB9E670CCC3DD40C78C161F2BEA243126 </html>").utf8))
        let torrent = compress(TorrentFixtures.torrentFile(info: info))
        var tcp = TCPConversation(client: Self.client, server: Self.server, start: Timestamp(seconds: 1_795_000_000, microseconds: 0))
        var frames = tcp.open()
        frames += tcp.send(fromClient: true, Array("GET /list HTTP/1.1\r\nAccept-Encoding: gzip, deflate\r\n\r\n".utf8))
        frames += tcp.send(fromClient: false, Array("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: \(header)\r\nContent-Length: \(page.count)\r\n\r\n".utf8) + page, segmentSize: 100)
        let chunked = Array(String(torrent.count, radix: 16).utf8) + [0x0D, 0x0A] + torrent + Array("\r\n0\r\n\r\n".utf8)
        frames += tcp.send(fromClient: false, Array("HTTP/1.1 200 OK\r\nContent-Type: application/x-bittorrent\r\nContent-Encoding: \(header)\r\nTransfer-Encoding: chunked\r\n\r\n".utf8) + chunked,
                           segmentSize: 333)
        let (events, counters) = runEngine(frames + tcp.close(), list: [listed, torrentID])
        let alerts = EngineHarness.matches(events)
        #expect(alerts.map(\.observation.contentID) == [listed, torrentID])
        #expect(alerts.map(\.observation.message) == [.httpMagnet, .httpTorrent])
        #expect(counters.anomalies(.inflateMalformed) == 0)
    }

    @Test func badOrEndlessCompressedBodiesAreCountedNotFatal() throws {
        let listed = try #require(ContentID(kind: .btih, hex: "dcfcdccfb9e670ccc3dd40c78c161f2bea243126"))
        let bomb = Deflate.gzip([UInt8](repeating: 0x20, count: 12 * 1024 * 1024) + Array("magnet:?xt=urn:btih:DCFCDCCFB9E670CCC3DD40C78C161F2BEA243126".utf8))
        let bad: [UInt8] = [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]
        for (body, anomaly) in [(bomb, Anomaly.inflateOverLimit), (bad, .inflateMalformed)] {
            var tcp = TCPConversation(client: Self.client, server: Self.server, start: Timestamp(seconds: 1_795_000_000, microseconds: 0))
            var frames = tcp.open()
            frames += tcp.send(fromClient: true, Array("GET / HTTP/1.1\r\n\r\n".utf8))
            frames += tcp.send(fromClient: false, Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
            let (events, counters) = runEngine(frames + tcp.close(), list: [listed])
            #expect(EngineHarness.matches(events).isEmpty)
            #expect(counters.anomalies(anomaly) == 1)
        }
    }
}
