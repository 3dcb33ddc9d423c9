import Foundation
import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

@Suite struct HTTPTrackerTests {
    // The announce of ndpi-bt-http.pcapng (Transmission 2.94), shortened.
    static let announce = "GET /announce?info_hash=%aa7i%c4S%0d%de%06%24%18s%da%d4%3a%b5%cc%ec%2c%e6%22&peer_id=-TR2940-chho92c56pul&port=51413&uploaded=0&downloaded=0&left=282050560&numwant=80&key=1&compact=1&supportcrypto=1&event=started HTTP/1.1"

    func decode(_ line: String) -> (BitTorrent.TrackerRequest?, [String]) {
        var ids: [String] = []
        let request = Array(line.utf8).withUnsafeBytes { raw in
            BitTorrent.HTTPTracker.decode(requestLine: raw) { ids.append($0.hex) }
        }
        return (request, ids)
    }

    @Test func announceCarriesPercentDecodedInfoHashAndContext() throws {
        let (request, ids) = decode(Self.announce)
        #expect(ids == ["aa3769c4530dde06241873dad43ab5ccec2ce622"])
        let announce = try #require(request)
        #expect(!announce.isScrape)
        #expect(announce.event == .started)
        #expect(announce.bytesLeft == 282_050_560)
        #expect(announce.port == 51_413)
        #expect(announce.peerID?.azureusClientTag == "-TR2940-")
        #expect(announce.role == .seeking)
    }

    @Test func seedersAndCompletedDownloadsOffer() {
        #expect(decode("GET /a?info_hash=\(String(repeating: "%41", count: 20))&left=0 HTTP/1.1").0?.role == .offering)
        #expect(decode("GET /a?info_hash=\(String(repeating: "B", count: 20))&event=completed&left=9 HTTP/1.0").0?.role == .offering)
    }

    @Test func scrapeCarriesEveryInfoHash() {
        let (request, ids) = decode("GET /tracker/scrape.php?info_hash=\(String(repeating: "A", count: 20))&info_hash=\(String(repeating: "%42", count: 20)) HTTP/1.1")
        #expect(request?.isScrape == true)
        #expect(request?.role == .seeking)
        #expect(ids == [String(repeating: "41", count: 20), String(repeating: "42", count: 20)])
    }

    @Test(arguments: [
        "GET /announce?peer_id=x&port=1 HTTP/1.1",                                     // no info_hash
        "GET /announce?info_hash=%zz HTTP/1.1",                                        // bad escape
        "GET /announce?info_hash=tooshort HTTP/1.1",
        "GET /announce?info_hash=\(String(repeating: "A", count: 21)) HTTP/1.1",       // 21 bytes
        "GET /index.html HTTP/1.1",
        "GET",
        "",
    ])
    func nonTrackerRequestsYieldNothing(line: String) {
        let (_, ids) = decode(line)
        #expect(ids.isEmpty)
    }

    @Test func requestLineScannerCollectsSplitLinesAndLetsOthersGo() {
        let line = Array((Self.announce + "\r\nHost: t\r\n\r\n").utf8)
        for size in [1, 2, 7, 64, line.count] {
            var scanner = HTTPRequestLineScanner()
            var found: [String] = []
            for start in stride(from: 0, to: line.count, by: size) {
                Array(line[start ..< min(line.count, start + size)]).withUnsafeBytes { raw in
                    scanner.consume(.data(raw)) { found.append(String(decoding: $0, as: UTF8.self)) }
                }
            }
            #expect(found == [Self.announce], "chunk size \(size)")
            #expect(scanner.isFinished)
        }
        var other = HTTPRequestLineScanner()
        [0x16, 0x03, 0x01].withUnsafeBytes { raw in other.consume(.data(raw)) { _ in Issue.record("not HTTP") } }
        #expect(other.isFinished)
        var huge = HTTPRequestLineScanner()
        let long = Array(("GET /" + String(repeating: "a", count: HTTPRequestLineScanner.maxLineLength)).utf8)
        long.withUnsafeBytes { raw in huge.consume(.data(raw)) { _ in Issue.record("over the cap") } }
        #expect(huge.isFinished)
    }
}

@Suite struct UDPTrackerTests {
    func be64(_ v: UInt64) -> [UInt8] { (0 ..< 8).map { UInt8(truncatingIfNeeded: v >> (56 - 8 * UInt64($0))) } }
    func be32(_ v: UInt32) -> [UInt8] { (0 ..< 4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * UInt32($0))) } }

    /// BEP 15's connect request, bytes as the spec gives them: protocol_id 0x41727101980,
    /// action 0, a transaction id.
    var connect: [UInt8] { [0x00, 0x00, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80] + be32(0) + be32(0xCAFE) }
    var connectResponse: [UInt8] { be32(0) + be32(0xCAFE) + be64(0x1122_3344_5566_7788) }
    func announce(connection: UInt64 = 0x1122_3344_5566_7788, left: UInt64 = 500, event: UInt32 = 2) -> [UInt8] {
        be64(connection) + be32(1) + be32(7) + [UInt8](repeating: 0xAB, count: 20) + Array("-TR3000-abcdefghijkl".utf8)
            + be64(0) + be64(left) + be64(0) + be32(event) + be32(0) + be32(1) + be32(50) + [0x1A, 0xE1]
    }

    func run(_ datagrams: [[UInt8]]) -> ([BitTorrent.TrackerRequest], [String]) {
        var session = BitTorrent.UDPTracker.Session()
        var requests: [BitTorrent.TrackerRequest] = []
        var ids: [String] = []
        for datagram in datagrams {
            datagram.withUnsafeBytes { raw in
                if let request = BitTorrent.UDPTracker.decode(raw, session: &session, found: { ids.append($0.hex) }) { requests.append(request) }
            }
        }
        return (requests, ids)
    }

    @Test func announceAfterConnectExchange() {
        let (requests, ids) = run([connect, connectResponse, announce()])
        #expect(ids == [String(repeating: "ab", count: 20)])
        #expect(requests.first?.event == .started)
        #expect(requests.first?.bytesLeft == 500)
        #expect(requests.first?.port == 6881)
        #expect(requests.first?.peerID?.azureusClientTag == "-TR3000-")
        #expect(requests.first?.role == .seeking)
        #expect(run([connect, announce(left: 0, event: 1)]).0.first?.role == .offering)
    }

    @Test func scrapeCarriesEveryHash() {
        let scrape = be64(0x1122_3344_5566_7788) + be32(2) + be32(8) + [UInt8](repeating: 1, count: 20) + [UInt8](repeating: 2, count: 20)
        let (requests, ids) = run([connect, connectResponse, scrape])
        #expect(requests.first?.isScrape == true)
        #expect(ids == [String(repeating: "01", count: 20), String(repeating: "02", count: 20)])
    }

    /// Fault 13: a scrape of more than 74 hashes was dropped without a trace. It is decoded and
    /// counted as an anomaly (the engine counts `exceedsLimit`).
    @Test func aScrapeOverBEP15sLimitIsDecodedAndFlagged() {
        let hashes = (0 ..< 80).flatMap { index in [UInt8](repeating: UInt8(index), count: 20) }
        let scrape = be64(0x1122_3344_5566_7788) + be32(2) + be32(8) + hashes
        let (requests, ids) = run([connect, connectResponse, scrape])
        #expect(ids.count == 80)
        #expect(ids.last == String(repeating: "4f", count: 20))
        #expect(requests.first?.exceedsLimit == true)
        let (small, _) = run([connect, connectResponse, be64(0x1122_3344_5566_7788) + be32(2) + be32(9) + Array(hashes.prefix(74 * 20))])
        #expect(small.first?.exceedsLimit == false)
    }

    @Test func nothingWithoutAConnectOrWithAnotherConnectionID() {
        #expect(run([announce()]).1.isEmpty)
        #expect(run([connect, connectResponse, announce(connection: 0x9999)]).1.isEmpty)
        // A DNS-sized datagram that happens to look like an announce is not one.
        var random = SeededGenerator(seed: 15)
        #expect(run((0 ..< 200).map { _ in random.bytes(98) }).1.isEmpty)
    }
}

@Suite struct LSDTests {
    @Test func readsEveryInfohashHeader() {
        let message = "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\nInfohash: ED4F1085E885F98F9A69B70EE89EB988B8FD9115\r\ninfohash: 0000000000000000000000000000000000000001\r\nInfohash: nothex\r\ncookie: x\r\n\r\n"
        var ids: [String] = []
        Array(message.utf8).withUnsafeBytes { BitTorrent.LSD.decodeInfoHashes($0) { ids.append($0.hex) } }
        #expect(ids == ["ed4f1085e885f98f9a69b70ee89eb988b8fd9115", "0000000000000000000000000000000000000001"])
        var none: [String] = []
        Array("M-SEARCH * HTTP/1.1\r\nInfohash: ED4F1085E885F98F9A69B70EE89EB988B8FD9115\r\n\r\n".utf8).withUnsafeBytes {
            BitTorrent.LSD.decodeInfoHashes($0) { none.append($0.hex) }
        }
        #expect(none.isEmpty)
    }

    /// Fault 13: an LSD message over 4,096 bytes was ignored without a trace; it is decoded, and
    /// the engine counts it as an anomaly.
    @Test func aLongMessageIsDecodedAndCounted() throws {
        let headers = (0 ..< 120).map { String(format: "Infohash: %040x\r\n", $0 + 1) }.joined()
        let message = Array("BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\n\(headers)\r\n".utf8)
        #expect(message.count > BitTorrent.LSD.maxMessageLength)
        var ids: [String] = []
        message.withUnsafeBytes { BitTorrent.LSD.decodeInfoHashes($0) { ids.append($0.hex) } }
        #expect(ids.count == 120)
        let sender = Endpoint(address: IPAddress(ipv4: 0xC633_6424), port: 6771)
        let group = Endpoint(address: IPAddress(ipv4: 0xEFC0_988F), port: 6771)
        let frame = Frame(bytes: PacketBuilder.udp(from: sender, to: group, payload: message), timestamp: Timestamp(seconds: 1_795_000_000, microseconds: 0))
        var engine = DetectionEngine(watchList: EngineHarness.watchList([try #require(ContentID(kind: .btih, hex: String(format: "%040x", 7)))]))
        var events: [DetectionEvent] = []
        frame.bytes.withUnsafeBytes { engine.process(frame: $0, wireLength: frame.wireLength, timestamp: frame.timestamp, link: .ethernet, events: &events) }
        #expect(EngineHarness.matches(events).count == 1)
        #expect(engine.counters.anomalies(.lsdOverLength) == 1)
    }
}
