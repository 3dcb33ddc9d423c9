// The fuzz targets: each a decoder, with valid messages built in code to start from.
import Foundation
import PeerWatchCore
import PeerWatchRuntime
import PeerWatchTestSupport

/// One decoder to fuzz.
struct Target {
    let name: String
    let seeds: [[UInt8]]
    let run: ([UInt8]) -> Void
}

func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

/// Every target, with its seeds built in code.
func targets() -> [Target] {
    var random = SeededGenerator(seed: 1)
    let handshake = BitTorrentFixtures.handshake(infoHash: random.bytes(20), peerID: BitTorrentFixtures.peerID(clientTag: "-TR3000-", using: &random))
    let infoValue = TorrentFixtures.singleFileInfo(name: "fuzz", length: 50_000, pieceLength: 16_384, using: &random)
    let info = infoValue.encoded
    let torrent = TorrentFixtures.torrentFile(info: infoValue)
    guard let handshakeHash = ContentID(kind: .btih, bytes: Array(handshake[28 ..< 48])),
          let anyHash = ContentID(kind: .btih, bytes: [UInt8](repeating: 1, count: 20)) else { fatalError("fixture hashes are 20 bytes") }
    let announce = bytes("GET /announce?info_hash=%aa7i%c4S%0d%de%06%24%18s%da%d4%3a%b5%cc%ec%2c%e6%22&peer_id=-TR2940-chho92c56pul&port=51413&left=0&event=started HTTP/1.1")
    func udp(_ parts: [[UInt8]]) -> [UInt8] { parts.flatMap { $0 } }
    func be(_ v: UInt64, _ n: Int) -> [UInt8] { (0 ..< n).map { UInt8(truncatingIfNeeded: v >> UInt64(8 * (n - 1 - $0))) } }
    let connect = udp([be(0x41727101980, 8), be(0, 4), be(7, 4)])
    let connectResponse = udp([be(0, 4), be(7, 4), be(99, 8)])
    let udpAnnounce = udp([be(99, 8), be(1, 4), be(8, 4), random.bytes(40), be(0, 8), be(5, 8), be(0, 8), be(2, 4), be(0, 12), [0x1A, 0xE1]])
    let page = bytes("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n<a href=\"magnet:?xt=urn:btih:dcfcdccfb9e670ccc3dd40c78c161f2bea24312\r\n1\r\n6\r\n0\r\n\r\n")
    let torrentResponse = bytes("HTTP/1.1 200 OK\r\nContent-Length: \(torrent.count)\r\n\r\n") + torrent
    let metadata = BitTorrentFixtures.metadataPieces(info, receiverID: 3)
    var tcp = TCPConversation(client: Endpoint(address: IPAddress(ipv4: 0xC633_6401), port: 5_000), server: Endpoint(address: IPAddress(ipv4: 0xCB00_7101), port: 6_881),
                              start: Timestamp(seconds: 1_795_000_000, microseconds: 0), vlanTags: [7])
    let frames = (tcp.open() + tcp.send(fromClient: true, handshake)).map(\.bytes)
    var carried = TCPConversation(client: Endpoint(address: IPAddress(ipv4: 0x0A00_0001), port: 5_000), server: Endpoint(address: IPAddress(ipv4: 0x0A00_0002), port: 6_881),
                                  start: Timestamp(seconds: 1_795_000_000, microseconds: 0))
    // A DHT query in three fragments, plain and inside a VLAN-tagged GRE tunnel, IPv4 and IPv6.
    let bigQuery = bytes("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz1234565:token300:" + String(repeating: "t", count: 300)
                         + "e1:q9:get_peers1:t2:aa1:y1:qe")
    let fragmentFrames: [[UInt8]] = [IPAddress(ipv4: 0x0A00_0001), IPAddress(ipv6High: 0xFD00, low: 1)].flatMap { source -> [[UInt8]] in
        let destination = source.family == .v4 ? IPAddress(ipv4: 0x0A00_0002) : IPAddress(ipv6High: 0xFD00, low: 2)
        let ip = CarrierBuilder.ipPacket(ofEthernet: PacketBuilder.udp(from: Endpoint(address: source, port: 6_881), to: Endpoint(address: destination, port: 6_882), payload: bigQuery)) ?? []
        let pieces = CarrierBuilder.fragments(of: ip, size: 128)
        return pieces.map { CarrierBuilder.wrap(ip: $0, in: []) }
            + pieces.map { CarrierBuilder.wrap(ip: $0, in: [.vlan(5), .gre(source: IPAddress(ipv4: 0xC000_0201), destination: IPAddress(ipv4: 0xC000_0202), key: 1)]) }
    }
    let carrierFrames = (carried.open() + carried.send(fromClient: true, BitTorrentFixtures.handshake(infoHash: Array(repeating: 0xAB, count: 20), peerID: Array(repeating: 0x2D, count: 20)))).map(\.bytes)
        + [PacketBuilder.udp(from: Endpoint(address: IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 1), port: 6_881),
                             to: Endpoint(address: IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 2), port: 6_881),
                             payload: bytes("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe"))]

    return [
        Target(name: "bencode", seeds: [torrent, info, bytes("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe"), bytes("li1ei-2e0:l3:abcee")]) { input in
            input.withUnsafeBytes { raw in
                var reader = ByteReader(raw)
                if let dictionary = try? Bencode.Dictionary(&reader) {
                    _ = dictionary.dictionary("info")?.string("name")
                    dictionary.forEach { _, _ in true }
                }
            }
        },
        Target(name: "dht", seeds: [
            bytes("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe"),
            bytes("d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe"),
            bytes("d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re"),
            bytes("d1:rd2:id20:abcdefghij01234567897:samples40:mnopqrstuvwxyz12345601234567890123456789e1:t2:ab1:y1:re"),
        ]) { input in
            _ = input.withUnsafeBytes { try? BitTorrent.DHT.decode($0) }
        },
        Target(name: "utp", seeds: [
            [0x41, 0, 0x12, 0x34] + [UInt8](repeating: 0, count: 12) + [0, 1, 0, 0],
            [0x01, 1, 0x12, 0x35] + [UInt8](repeating: 0, count: 12) + [0, 2, 0, 1, 0, 4, 0xFF, 0, 0, 0] + handshake,
        ]) { input in
            var stream = BitTorrent.UTPStream()
            var scanner = BitTorrent.HandshakeScanner()
            // Feed the input as several datagrams cut at pseudo-random points.
            var start = 0
            while start < input.count {
                let end = min(input.count, start + 20 + Int(input[start]) % 90)
                Array(input[start ..< end]).withUnsafeBytes { raw in
                    if let header = BitTorrent.UTP.Header(raw) {
                        stream.receive(header, payload: UnsafeRawBufferPointer(rebasing: raw[header.payloadOffset...])) { chunk in
                            scanner.consume(chunk) { _, _, _ in }
                        }
                    }
                }
                start = end
            }
        },
        Target(name: "tracker", seeds: [announce, bytes("GET /scrape?info_hash=AAAAAAAAAAAAAAAAAAAA&info_hash=%41%41AAAAAAAAAAAAAAAAAA HTTP/1.0"),
                                        connect + connectResponse + udpAnnounce, bytes("BT-SEARCH * HTTP/1.1\r\nInfohash: ED4F1085E885F98F9A69B70EE89EB988B8FD9115\r\n\r\n")]) { input in
            input.withUnsafeBytes { raw in
                _ = BitTorrent.HTTPTracker.decode(requestLine: raw) { _ in }
                BitTorrent.LSD.decodeInfoHashes(raw) { _ in }
                var session = BitTorrent.UDPTracker.Session()
                for cut in [16, 32] where raw.count > cut {
                    _ = BitTorrent.UDPTracker.decode(UnsafeRawBufferPointer(rebasing: raw[0 ..< cut]), session: &session) { _ in }
                    _ = BitTorrent.UDPTracker.decode(UnsafeRawBufferPointer(rebasing: raw[cut...]), session: &session) { _ in }
                }
            }
        },
        Target(name: "handshake", seeds: [handshake, [0x01, 0x02] + handshake + BitTorrentFixtures.extensionHandshake(utMetadata: 3, client: "x")]) { input in
            var scanner = BitTorrent.HandshakeScanner()
            var framer: BitTorrent.PeerWireFramer?
            var exchange = BitTorrent.MetadataExchange(infoHash: handshakeHash)
            var budget = 64 * 1024
            let size = 1 + Int(input.first ?? 0) % 64
            for start in stride(from: 0, to: input.count, by: size) {
                Array(input[start ..< min(input.count, start + size)]).withUnsafeBytes { raw in
                    if var wire = framer {
                        wire.consume(.data(raw)) { message in _ = exchange.handle(message, from: .toClient, budget: &budget) }
                        framer = wire
                    } else {
                        scanner.consume(.data(raw)) { _, rest, remainder in
                            var wire = BitTorrent.PeerWireFramer(handshakeRemainder: remainder)
                            wire.consume(.data(rest)) { message in _ = exchange.handle(message, from: .toServer, budget: &budget) }
                            framer = wire
                        }
                    }
                }
            }
        },
        Target(name: "metadata", seeds: metadata + [BitTorrentFixtures.extensionHandshake(utMetadata: 3, client: "qB")]) { input in
            var exchange = BitTorrent.MetadataExchange(infoHash: anyHash)
            var budget = 64 * 1024
            let hello = [0] + BencodeValue.dictionary([("m", .dictionary([("ut_metadata", .integer(3))]))]).encoded
            _ = hello.withUnsafeBytes { exchange.handle($0, from: .toServer, budget: &budget) }
            if input.count > 4 { _ = Array(input[4...]).withUnsafeBytes { exchange.handle($0, from: .toClient, budget: &budget) } }
        },
        Target(name: "http", seeds: [page, torrentResponse, bytes("HTTP/1.1 304 Not Modified\r\n\r\nHTTP/1.1 200 OK\r\n\r\nmagnet:?xt=urn:btih:3T6NZT5Z4ZYMZQ65IDDYYFQ7FPVCIMJG")]) { input in
            var scanner = HTTPResponseScanner()
            var request = HTTPRequestLineScanner()
            let size = 1 + Int(input.last ?? 0) % 200
            let budget = 1 << 20
            var left = budget
            defer { precondition(left + scanner.bytesHeld == budget, "the body budget leaked") }
            for start in stride(from: 0, to: input.count, by: size) {
                Array(input[start ..< min(input.count, start + size)]).withUnsafeBytes { raw in
                    scanner.consume(.data(raw), budget: &left) { finding in
                        if case .torrentFile(let bytes) = finding { _ = TorrentInfo(torrentFile: bytes) }
                    }
                    request.consume(.data(raw)) { line in MagnetLink.scan(line) { _ in } }
                }
            }
        },
        Target(name: "magnet", seeds: [bytes("magnet:?xt=urn:btih:DCFCDCCFB9E670CCC3DD40C78C161F2BEA243126&xt.1=urn:btmh:1220" + String(repeating: "ab", count: 32) + "&xt.2=urn:bitprint:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ.LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ"),
                                       bytes("uri=magnet%3A%3Fxt%3Durn%3Asha1%3A3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ&x")]) { input in
            _ = input.withUnsafeBytes { MagnetLink.scan($0) { _ in } }
        },
        Target(name: "torrent", seeds: [torrent, info]) { input in
            input.withUnsafeBytes { raw in
                _ = TorrentInfo(torrentFile: raw)
                _ = TorrentInfo(infoDictionary: raw)
            }
        },
        Target(name: "endfinder", seeds: [torrent, info, bytes("d1:xli1ei2e3:abce1:y0:e")]) { input in
            // Cut anywhere, the end is found where one pass over the whole finds it.
            var whole = Bencode.EndFinder()
            let expected = input.withUnsafeBytes { whole.consume($0) }
            var pieces = Bencode.EndFinder()
            var outcome = Bencode.EndFinder.Progress.incomplete
            let cut = input.isEmpty ? 0 : Int(input[0]) % input.count
            for part in [input[..<cut], input[cut...]] where outcome == .incomplete {
                outcome = Array(part).withUnsafeBytes { pieces.consume($0) }
                if case .complete(let offset) = outcome, part.startIndex == cut { outcome = .complete(offset: offset + cut) }
            }
            precondition(outcome == expected || outcome == .incomplete && expected == .incomplete, "pieces disagree with the whole")
        },
        Target(name: "inflate", seeds: [Inflation.zlib(torrent), Inflation.gzip(info)]) { input in
            for format in [Inflater.Format.zlib, .raw, .gzip] {
                guard let inflater = Inflater(format: format) else { continue }
                var produced = 0
                _ = input.withUnsafeBytes { inflater.inflate($0, limit: 1 << 20) { produced += $0.count } }
                precondition(produced <= 1 << 20, "the output cap was passed")
            }
        },
        Target(name: "watchlist", seeds: [
            bytes("# list\nbtih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126 series 17\nmd5:d41d8cd98f00b204e9800998ecf8427e\n"),
            bytes("kind,hash,label,category,source\nsha1,da39a3ee5e6b4b0d3255bfef95601890afd80709,\"a, \"\"b\"\"\",1,IWF\n"),
            bytes("{\"value\":[{\"MediaID\":1,\"Category\":2,\"MD5\":\"d41d8cd98f00b204e9800998ecf8427e\",\"Tags\":[{\"x\":[1,2]}]}]}"),
        ]) { input in
            for format in [WatchListFormat.native, .csv, .vics, .magnet, .ed2k] {
                _ = try? WatchListLoader.load(bytes: input, format: format)
            }
        },
        Target(name: "verify", seeds: [Chain.sampleLog()]) { input in
            _ = AlertChainVerifier.verify(Data(input))
        },
        Target(name: "carrier", seeds: carrierFrames.flatMap { frame in CarrierProfile.all.compactMap { CarrierBuilder.rewrap(frame, link: .ethernet, in: $0) } }
                   + fragmentFrames) { input in
            // Every carrier decoder, on the default ports and on others, and the record's
            // carrier worked out again; then an engine whose list matches the seeds' handshake,
            // so that a match works the carrier out from hostile frames too.
            var others = CarrierOptions()
            others.vxlanPorts = PortSet([6881, 4789])
            others.gtpuPorts = PortSet([5000])
            others.vlanTracking = false
            input.withUnsafeBytes { raw in
                for options in [CarrierOptions(), others] {
                    if case .success(let packet) = PacketDecoder.decode(raw, link: .ethernet, options: options) {
                        precondition(packet.payloadOffset >= 0 && packet.payloadOffset + packet.payloadLength <= raw.count, "payload outside the frame")
                    }
                    let carrier = PacketDecoder.carrier(of: raw, link: .ethernet, options: options)
                    precondition(carrier.vlans.count <= PacketDecoder.maxVLANTags && carrier.mplsLabels.count <= PacketDecoder.maxMPLSLabels
                                 && carrier.tunnels.count <= PacketDecoder.maxLayers, "a carrier past its caps")
                }
                var events: [DetectionEvent] = []
                carrierEngine.engine.process(frame: raw, wireLength: raw.count, timestamp: Timestamp(microseconds: 1), link: .ethernet, events: &events)
            }
        },
        Target(name: "gnutella", seeds: familySeeds.gnutella) { input in
            // The responder's bytes after the handshake, on a plain, a deflated and a G2 link.
            for (deflate, g2) in [(false, false), (true, false), (true, true)] {
                let (connect, final, answer) = GnutellaFixtures.handshake(deflate: deflate, g2: g2)
                streamEngine.run(client: connect + final, server: answer + input)
            }
        },
        Target(name: "gnutella-udp", seeds: familySeeds.gnutellaUDP) { input in
            streamEngine.datagram(input, port: 28_681)
        },
        Target(name: "edonkey", seeds: familySeeds.edonkey) { input in
            // A client's frames after its hello, and the same bytes as Kad and eDonkey datagrams.
            streamEngine.run(client: EDonkeyFixtures.hello(userHash: Array(repeating: 7, count: 16), name: "fuzz") + input, server: [])
            streamEngine.datagram(input, port: 4_672)
        },
        Target(name: "directconnect", seeds: familySeeds.directConnect) { input in
            streamEngine.run(client: bytes("$MyNick f|") + input, server: bytes("$Lock EXTENDEDPROTOCOL Pk=x|"))
            streamEngine.run(client: bytes("HSUP ADBASE ADTIGR\n") + input, server: [])
            streamEngine.datagram(input, port: 412)
        },
        Target(name: "packet", seeds: frames) { input in
            // One engine across inputs, so that flows and reassembly state carry over between them.
            var events: [DetectionEvent] = []
            for link in [LinkType.ethernet, .linuxSLL2, .raw, .null] {
                input.withUnsafeBytes { sharedEngine.engine.process(frame: $0, wireLength: $0.count, timestamp: Timestamp(microseconds: 1), link: link, events: &events) }
            }
        },
    ]
}

/// The packet target's engine, kept across inputs (small, so eviction runs too).
final class EngineBox {
    var engine: DetectionEngine
    init(listing id: ContentID? = nil) {
        var configuration = EngineConfiguration()
        configuration.maxFlows = 1_024
        engine = DetectionEngine(configuration: configuration, watchList: id.map { EngineHarness.watchList([$0]) } ?? .empty)
    }
}
nonisolated(unsafe) let sharedEngine = EngineBox()
/// The carrier target's engine: its list holds the seeds' infohash.
nonisolated(unsafe) let carrierEngine = EngineBox(listing: ContentID(kind: .btih, bytes: Array(repeating: 0xAB, count: 20)))

/// Seeds of the family targets, built from the test fixtures.
enum familySeeds {
    static let hash = Array(repeating: UInt8(0xAB), count: 16)
    static let gnutella: [[UInt8]] = {
        let hit = GnutellaFixtures.descriptor(type: 0x81, payload: GnutellaFixtures.queryHit([
            GnutellaFixtures.Hit(size: 5, name: "a.mp3", extensions: GnutellaFixtures.huge(["urn:sha1:LXIP2A72T5H3BU3GRUMZFYNU3OYDK6FI", "urn:md5:063e5b524d13a12a01f029b7854d888c"])
                + [0x1C] + GnutellaFixtures.ggep([("H", [1] + Array(repeating: 9, count: 20)), ("LF", [1, 2, 3, 4, 5])])),
        ]))
        let q2 = GnutellaFixtures.g2("Q2", children: [GnutellaFixtures.g2URN("bp", Array(repeating: 3, count: 44)), GnutellaFixtures.g2("DN", payload: bytes("x"))], payload: [1])
        return [hit, Deflate.zlib(hit), Deflate.zlib(q2), q2]
    }()
    static let gnutellaUDP: [[UInt8]] = [
        GnutellaFixtures.mojitoFindValue(key: Array(repeating: 5, count: 20)), GnutellaFixtures.mojitoStore(key: Array(repeating: 5, count: 20), type: "ALOC"),
        bytes("GND") + [1, 1, 0, 1, 1] + Deflate.zlib(GnutellaFixtures.g2("Q2", children: [GnutellaFixtures.g2URN("sha1", Array(repeating: 1, count: 20))])),
    ] + gnutella.prefix(1)
    static let edonkey: [[UInt8]] = [
        EDonkeyFixtures.frame(0xE3, 0x58, hash), EDonkeyFixtures.frame(0xC5, 0xA2, hash + Array(repeating: 0, count: 16) + [1, 2, 3]),
        EDonkeyFixtures.packed(0x15, [1, 0, 0, 0] + EDonkeyFixtures.fileEntry(hash: hash, name: "n", size: 3)),
        EDonkeyFixtures.kadSearchSource(hash, size: 9), EDonkeyFixtures.kadPublishKey(keyword: hash, files: [(hash, "k", 1)]), [0xC5, 0x90] + hash,
    ]
    static let directConnect: [[UInt8]] = [
        bytes("$Search 1.2.3.4:5 F?T?0?9?TTH:3WMUS6WM2ZC7XIPRQDKXWHHJRV4IKYC4OX4ELCA|$ADCSND file TTH/3WMUS6WM2ZC7XIPRQDKXWHHJRV4IKYC4OX4ELCA 0 3|abc|"),
        bytes("$SR a b\u{5}1 1/1\u{5}TTH:3WMUS6WM2ZC7XIPRQDKXWHHJRV4IKYC4OX4ELCA (1.2.3.4:411)|"),
        bytes("BSCH AAAB TR3WMUS6WM2ZC7XIPRQDKXWHHJRV4IKYC4OX4ELCA\nDRES A B FNx\\sy SI3 TR3WMUS6WM2ZC7XIPRQDKXWHHJRV4IKYC4OX4ELCA\nCSND file TTH/3WMUS6WM2ZC7XIPRQDKXWHHJRV4IKYC4OX4ELCA 0 2\nab\n"),
        bytes("URES AB FNx SI1 TR3WMUS6WM2ZC7XIPRQDKXWHHJRV4IKYC4OX4ELCA\n"),
    ]
}

/// The family targets' engine: each input a new flow (its own client port), the table small so
/// that flows are evicted as inputs come.
final class StreamEngine {
    var engine: DetectionEngine
    var port: UInt16 = 1_024
    init() {
        var configuration = EngineConfiguration()
        configuration.maxFlows = 512
        engine = DetectionEngine(configuration: configuration, watchList: EngineHarness.watchList([
            ContentID(kind: .ed2k, bytes: familySeeds.hash), ContentID(kind: .sha1, bytes: Array(repeating: 9, count: 20)),
        ].compactMap { $0 }))
    }

    private func nextClient() -> Endpoint {
        port = port == UInt16.max ? 1_024 : port + 1
        return Endpoint(address: IPAddress(ipv4: 0x0A00_0001), port: port)
    }

    /// A TCP flow whose client sends `client` and whose server sends `server`, in 536-byte segments.
    func run(client: [UInt8], server: [UInt8]) {
        var tcp = TCPConversation(client: nextClient(), server: Endpoint(address: IPAddress(ipv4: 0x0A00_0002), port: 6_346),
                                  start: Timestamp(seconds: 1_795_000_000, microseconds: 0))
        var events: [DetectionEvent] = []
        for frame in tcp.open() + tcp.send(fromClient: true, client, segmentSize: 536) + tcp.send(fromClient: false, server, segmentSize: 536) + tcp.close() {
            frame.bytes.withUnsafeBytes { engine.process(frame: $0, wireLength: $0.count, timestamp: frame.timestamp, link: .ethernet, events: &events) }
        }
    }

    /// One datagram to `port`.
    func datagram(_ payload: [UInt8], port: UInt16) {
        var events: [DetectionEvent] = []
        let frame = PacketBuilder.udp(from: nextClient(), to: Endpoint(address: IPAddress(ipv4: 0x0A00_0002), port: port), payload: payload)
        frame.withUnsafeBytes { engine.process(frame: $0, wireLength: $0.count, timestamp: Timestamp(seconds: 1_795_000_000, microseconds: 0), link: .ethernet, events: &events) }
    }
}
nonisolated(unsafe) let streamEngine = StreamEngine()

/// Structure-aware byte mutations.
struct Mutator {
    var random: SeededGenerator
    static let interesting: [UInt8] = [0, 1, 0x7F, 0x80, 0xFF, 0x13, UInt8(ascii: "d"), UInt8(ascii: "e"), UInt8(ascii: "i"), UInt8(ascii: "l"),
                                       UInt8(ascii: ":"), UInt8(ascii: "0"), UInt8(ascii: "9"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "="),
                                       0x0D, 0x0A, UInt8(ascii: " "), UInt8(ascii: "?")]

    mutating func number(_ bound: Int) -> Int { bound <= 0 ? 0 : Int(random.next() % UInt64(bound)) }

    mutating func mutate(_ seed: [UInt8], other: [UInt8]) -> [UInt8] {
        var data = seed
        for _ in 0 ..< 1 + number(4) {
            switch number(9) {
            case 0 where !data.isEmpty: data[number(data.count)] ^= UInt8(1) << UInt8(number(8))
            case 1 where !data.isEmpty: data[number(data.count)] = Self.interesting[number(Self.interesting.count)]
            case 2 where !data.isEmpty: data[number(data.count)] = UInt8(truncatingIfNeeded: random.next())
            case 3: data.insert(contentsOf: random.bytes(1 + number(16)), at: number(data.count + 1))
            case 4 where data.count > 1:
                let start = number(data.count)
                data.removeSubrange(start ..< min(data.count, start + 1 + number(32)))
            case 5 where !data.isEmpty:
                let start = number(data.count)
                let slice = data[start ..< min(data.count, start + 1 + number(64))]
                data.insert(contentsOf: slice, at: number(data.count + 1))
            case 6 where !other.isEmpty:
                let cut = number(data.count + 1)
                data = Array(data.prefix(cut)) + Array(other.suffix(max(0, other.count - number(other.count))))
            case 7: data = Array(data.prefix(number(data.count + 1)))
            case 8 where !data.isEmpty:
                // A big-endian length field somewhere: 0, the maximum, or off by one.
                let at = number(data.count)
                let values: [[UInt8]] = [[0, 0, 0, 0], [0xFF, 0xFF, 0xFF, 0xFF], [0, 0, 0x40, 0x01], [0x7F, 0xFF, 0xFF, 0xFF]]
                let value = values[number(values.count)]
                for (offset, byte) in value.enumerated() where at + offset < data.count { data[at + offset] = byte }
            default: break
            }
        }
        return data
    }
}


/// Compressed seeds for the inflate target, made with zlib's deflate through Python-free means:
/// stored (uncompressed) deflate blocks, which every inflater must read.
enum Inflation {
    /// `bytes` as one stored deflate block (at most 65,535 bytes).
    static func storedBlock(_ bytes: [UInt8]) -> [UInt8] {
        let data = Array(bytes.prefix(65_535))
        let length = UInt16(data.count)
        return [0x01, UInt8(length & 0xFF), UInt8(length >> 8), UInt8(~length & 0xFF), UInt8(~length >> 8)] + data
    }

    static func zlib(_ bytes: [UInt8]) -> [UInt8] {
        [0x78, 0x01] + storedBlock(bytes) + adler32(Array(bytes.prefix(65_535)))
    }

    static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        [0x1F, 0x8B, 0x08, 0, 0, 0, 0, 0, 0, 0xFF] + storedBlock(bytes) + [0, 0, 0, 0] + [0, 0, 0, 0]
    }

    static func adler32(_ bytes: [UInt8]) -> [UInt8] {
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in bytes {
            a = (a + UInt32(byte)) % 65_521
            b = (b + a) % 65_521
        }
        let value = b << 16 | a
        return [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}

/// A small alert log for the verify target.
enum Chain {
    static func sampleLog() -> [UInt8] {
        var encoder = AlertEncoder(sensor: SensorIdentity(name: "fuzz", interface: nil))
        let opening = LogOpening(reason: .start, file: "fuzz.json", appended: false, chainFrom: .genesis, version: "fuzz", processID: 1)
        return encoder.encodeLogOpen(opening, at: Timestamp(microseconds: 0))
            + encoder.encodeDropped(count: 2, first: nil, last: nil, reason: "fuzz", at: Timestamp(microseconds: 1))
            + encoder.encodeLogClose(reason: .shutdown, records: 1, at: Timestamp(microseconds: 2))
    }
}
