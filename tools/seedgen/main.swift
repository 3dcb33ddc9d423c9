// Writes the deterministic demo capture and watch list in seeds/:
//   swift run peerwatch-seedgen [OUTPUT-DIRECTORY]      (default: seeds)
// The same source always gives byte-identical files.
import Foundation
import PeerWatchCore
import PeerWatchTestSupport

extension String {
    /// Two hex digits.
    func leftPadded() -> String { count == 1 ? "0" + self : self }
}

let directory = CommandLine.arguments.dropFirst().first ?? "seeds"
var random = SeededGenerator(seed: 0x5EED_0001)
var frames: [Frame] = []
let start = Timestamp(seconds: 1_795_000_000, microseconds: 0)  // 2026-11-18T11:06:40Z
var clock = start

@MainActor func ip(_ text: String) -> IPAddress {
    guard let address = IPAddress(text) else { fatalError("bad address literal \(text)") }
    return address
}

@MainActor func endpoint(_ text: String, _ port: UInt16) -> Endpoint { Endpoint(address: ip(text), port: port) }

@MainActor func nextClock(_ micros: Int64 = 7_000) -> Timestamp {
    clock = Timestamp(microseconds: clock.microseconds + micros)
    return clock
}

// Subscribers live in 198.51.100.0/24 and 2001:db8:100::/48; remote peers elsewhere in the
// documentation ranges.
struct Torrent { let name: String; let infoHash: [UInt8]; let listed: Bool }
let torrents = [
    Torrent(name: "demo series A", infoHash: random.bytes(20), listed: true),
    Torrent(name: "demo series B", infoHash: random.bytes(20), listed: true),
    Torrent(name: "demo series C", infoHash: random.bytes(20), listed: true),
    Torrent(name: "unlisted", infoHash: random.bytes(20), listed: false),
]

/// A BitTorrent connection: handshakes both ways, bitfields, some piece traffic, close.
@MainActor func bittorrentFlow(
    client: Endpoint, server: Endpoint, torrent: Torrent, clientTag: String, serverTag: String,
    link: LinkType = .ethernet, vlanTags: [UInt16] = [], splitHandshake: Bool = false, reorder: Bool = false,
    retransmit: Bool = false
) {
    var tcp = TCPConversation(client: client, server: server, clientISN: UInt32(truncatingIfNeeded: random.next()),
                              serverISN: UInt32(truncatingIfNeeded: random.next()), start: nextClock(), step: 900,
                              link: link, vlanTags: vlanTags)
    var out = tcp.open()
    let hello = BitTorrentFixtures.handshake(infoHash: torrent.infoHash, peerID: BitTorrentFixtures.peerID(clientTag: clientTag, using: &random))
    var sent = tcp.send(fromClient: true, hello, segmentSize: splitHandshake ? 30 : 1_448)
    if reorder, sent.count > 1 { sent.swapAt(0, 1) }
    if retransmit, let first = sent.first { sent.insert(first, at: 1) }
    out += sent
    out += tcp.send(fromClient: false, BitTorrentFixtures.handshake(infoHash: torrent.infoHash, peerID: BitTorrentFixtures.peerID(clientTag: serverTag, using: &random)))
    out += tcp.send(fromClient: true, BitTorrentFixtures.bitfieldAndInterested(pieces: 300, using: &random))
    out += tcp.send(fromClient: false, BitTorrentFixtures.bitfieldAndInterested(pieces: 300, using: &random))
    for _ in 0 ..< 4 {
        var piece: [UInt8] = [0, 0, 0x40, 0x09, 7]
        piece += random.bytes(8) + random.bytes(16_384)
        out += tcp.send(fromClient: false, piece)
    }
    out += tcp.close()
    frames += out
    clock = tcp.clock
}

/// An HTTP exchange that is not P2P.
@MainActor func httpFlow(client: Endpoint, server: Endpoint, path: String, bodySize: Int) {
    var tcp = TCPConversation(client: client, server: server, clientISN: UInt32(truncatingIfNeeded: random.next()),
                              serverISN: UInt32(truncatingIfNeeded: random.next()), start: nextClock(), step: 800)
    var out = tcp.open()
    out += tcp.send(fromClient: true, Array("GET \(path) HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: demo\r\n\r\n".utf8))
    out += tcp.send(fromClient: false, Array("HTTP/1.1 200 OK\r\nContent-Length: \(bodySize)\r\nContent-Type: application/octet-stream\r\n\r\n".utf8) + random.bytes(bodySize))
    out += tcp.close()
    frames += out
    clock = tcp.clock
}

/// A TLS-like session: random records after a ClientHello-shaped first segment.
@MainActor func tlsFlow(client: Endpoint, server: Endpoint, bytes: Int) {
    var tcp = TCPConversation(client: client, server: server, clientISN: UInt32(truncatingIfNeeded: random.next()),
                              serverISN: UInt32(truncatingIfNeeded: random.next()), start: nextClock(), step: 600)
    var out = tcp.open()
    out += tcp.send(fromClient: true, [0x16, 0x03, 0x01, 0x00, 0xC8] + random.bytes(200))
    out += tcp.send(fromClient: false, [0x16, 0x03, 0x03, 0x10, 0x00] + random.bytes(4_096))
    out += tcp.send(fromClient: false, [0x17, 0x03, 0x03] + random.bytes(bytes))
    out += tcp.close()
    frames += out
    clock = tcp.clock
}

@MainActor func dnsExchange(client: Endpoint, server: Endpoint, name: String) {
    var query: [UInt8] = [UInt8(truncatingIfNeeded: random.next()), 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]
    for label in name.split(separator: ".") { query.append(UInt8(label.utf8.count)); query += Array(label.utf8) }
    query += [0, 0, 1, 0, 1]
    frames.append(Frame(bytes: PacketBuilder.udp(from: client, to: server, payload: query), timestamp: nextClock(300)))
    var answer = query
    answer[2] = 0x81; answer[3] = 0x80; answer[7] = 1
    answer += [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0x0E, 0x10, 0, 4, 192, 0, 2, UInt8(truncatingIfNeeded: random.next())]
    frames.append(Frame(bytes: PacketBuilder.udp(from: server, to: client, payload: answer), timestamp: nextClock(20_000)))
}

let resolver = endpoint("198.51.100.53", 53)
dnsExchange(client: endpoint("198.51.100.10", 40_001), server: resolver, name: "www.example.com")
httpFlow(client: endpoint("198.51.100.10", 40_002), server: endpoint("203.0.113.80", 80), path: "/index.html", bodySize: 6_000)
bittorrentFlow(client: endpoint("198.51.100.23", 51_413), server: endpoint("203.0.113.5", 6_881), torrent: torrents[0],
               clientTag: "-TR3000-", serverTag: "-qB4630-")
tlsFlow(client: endpoint("198.51.100.11", 40_003), server: endpoint("203.0.113.44", 443), bytes: 20_000)
// A handshake cut in three segments that arrive out of order, on an 802.1Q trunk.
bittorrentFlow(client: endpoint("198.51.100.24", 52_000), server: endpoint("203.0.113.9", 49_160), torrent: torrents[1],
               clientTag: "-DE13F0-", serverTag: "-UT3600-", vlanTags: [100], splitHandshake: true, reorder: true)
dnsExchange(client: endpoint("198.51.100.12", 40_004), server: resolver, name: "updates.example.net")
// IPv6, and the subscriber is the one answering.
bittorrentFlow(client: endpoint("2001:db8:200::7", 60_111), server: endpoint("2001:db8:100::24", 6_881), torrent: torrents[2],
               clientTag: "-LT2090-", serverTag: "-TR4050-")
// Not on the list: recognised as BitTorrent, but leaves no record.
bittorrentFlow(client: endpoint("198.51.100.30", 53_000), server: endpoint("203.0.113.77", 51_413), torrent: torrents[3],
               clientTag: "-TR3000-", serverTag: "-TR3000-")
httpFlow(client: endpoint("198.51.100.13", 40_005), server: endpoint("203.0.113.81", 8_080), path: "/video.mp4", bodySize: 40_000)
// The same listed torrent from another subscriber, its first handshake segment retransmitted.
bittorrentFlow(client: endpoint("198.51.100.25", 50_500), server: endpoint("203.0.113.12", 6_889), torrent: torrents[0],
               clientTag: "-BI2310-", serverTag: "-TR3000-", splitHandshake: true, retransmit: true)
tlsFlow(client: endpoint("2001:db8:100::11", 40_006), server: endpoint("2001:db8:300::443", 443), bytes: 12_000)

// --- The BitTorrent family beyond the TCP peer wire ---

/// A DHT get_peers query from a subscriber and the answer with two peers (BEP 5).
@MainActor func dhtLookup(client: Endpoint, node: Endpoint, infoHash: [UInt8]) {
    let transaction: [UInt8] = [0x70, 0x77]
    let query = BencodeValue.dictionary([
        ("a", .dictionary([("id", .bytes(random.bytes(20))), ("info_hash", .bytes(infoHash))])),
        ("q", .text("get_peers")), ("t", .bytes(transaction)), ("y", .text("q")),
    ]).encoded
    frames.append(Frame(bytes: PacketBuilder.udp(from: client, to: node, payload: query), timestamp: nextClock(2_000)))
    let answer = BencodeValue.dictionary([
        ("r", .dictionary([("id", .bytes(random.bytes(20))), ("token", .bytes(random.bytes(8))),
                           ("values", .list([.bytes(random.bytes(6)), .bytes(random.bytes(6))]))])),
        ("t", .bytes(transaction)), ("y", .text("r")),
    ]).encoded
    frames.append(Frame(bytes: PacketBuilder.udp(from: node, to: client, payload: answer), timestamp: nextClock(40_000)))
}

/// A uTP connection (BEP 29): SYN, STATE, then the handshakes as data packets.
@MainActor func utpConnection(client: Endpoint, server: Endpoint, infoHash: [UInt8]) {
    func packet(_ type: UInt8, connection: UInt16, sequence: UInt16, ack: UInt16, payload: [UInt8] = []) -> [UInt8] {
        [type << 4 | 1, 0, UInt8(connection >> 8), UInt8(connection & 0xFF), 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0x10, 0, 0,
         UInt8(sequence >> 8), UInt8(sequence & 0xFF), UInt8(ack >> 8), UInt8(ack & 0xFF)] + payload
    }
    let id = UInt16(truncatingIfNeeded: random.next())
    let server0 = UInt16(truncatingIfNeeded: random.next())
    let hello = BitTorrentFixtures.handshake(infoHash: infoHash, peerID: BitTorrentFixtures.peerID(clientTag: "-UT3600-", using: &random))
    let answer = BitTorrentFixtures.handshake(infoHash: infoHash, peerID: BitTorrentFixtures.peerID(clientTag: "-LT2090-", using: &random))
    for (from, to, bytes) in [
        (client, server, packet(4, connection: id, sequence: 1, ack: 0)),
        (server, client, packet(2, connection: id, sequence: server0, ack: 1)),
        (client, server, packet(0, connection: id &+ 1, sequence: 2, ack: server0, payload: hello)),
        (server, client, packet(0, connection: id, sequence: server0, ack: 2, payload: answer)),
    ] {
        frames.append(Frame(bytes: PacketBuilder.udp(from: from, to: to, payload: bytes), timestamp: nextClock(3_000)))
    }
}

/// A request answered over HTTP, in one TCP connection.
@MainActor func httpExchange(client: Endpoint, server: Endpoint, request: String, response: [UInt8]) {
    var tcp = TCPConversation(client: client, server: server, clientISN: UInt32(truncatingIfNeeded: random.next()),
                              serverISN: UInt32(truncatingIfNeeded: random.next()), start: nextClock(), step: 800)
    var out = tcp.open()
    out += tcp.send(fromClient: true, Array(request.utf8))
    out += tcp.send(fromClient: false, response)
    out += tcp.close()
    frames += out
    clock = tcp.clock
}

let torrentD = TorrentFixtures.singleFileInfo(name: "demo series D.mkv", length: 734_003_200, pieceLength: 1 << 20, using: &random)
let torrentDFile = TorrentFixtures.torrentFile(info: torrentD, announce: "http://tracker.example/announce")
dhtLookup(client: endpoint("198.51.100.31", 51_413), node: endpoint("203.0.113.201", 6_881), infoHash: torrents[1].infoHash)
utpConnection(client: endpoint("198.51.100.32", 50_321), server: endpoint("203.0.113.202", 61_000), infoHash: torrents[2].infoHash)
let escaped = torrents[0].infoHash.map { "%" + String($0, radix: 16).uppercased().leftPadded() }.joined()
httpExchange(client: endpoint("198.51.100.33", 40_100), server: endpoint("203.0.113.203", 6_969),
             request: "GET /announce?info_hash=\(escaped)&peer_id=-TR3000-a1b2c3d4e5f6&port=51413&uploaded=0&downloaded=0&left=0&event=completed HTTP/1.1\r\nHost: tracker.example:6969\r\n\r\n",
             response: Array("HTTP/1.1 200 OK\r\nContent-Length: 33\r\n\r\n".utf8)
                 + BencodeValue.dictionary([("interval", .integer(1_800)), ("peers", .bytes([203, 0, 113, 9, 0x1A, 0xE1]))]).encoded)
httpExchange(client: endpoint("198.51.100.34", 40_101), server: endpoint("203.0.113.204", 80),
             request: "GET /download/demo-series-d.torrent HTTP/1.1\r\nHost: index.example\r\n\r\n",
             response: Array("HTTP/1.1 200 OK\r\nContent-Type: application/x-bittorrent\r\nContent-Length: \(torrentDFile.count)\r\n\r\n".utf8) + torrentDFile)
let page = "<html><body><h1>demo index</h1><a href=\"magnet:?xt=urn:btih:\(Hex.encode(torrents[1].infoHash))&amp;dn=demo+series+B\">B</a></body></html>"
httpExchange(client: endpoint("198.51.100.35", 40_102), server: endpoint("203.0.113.204", 80),
             request: "GET /search?q=demo HTTP/1.1\r\nHost: index.example\r\n\r\n",
             response: Array("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: \(page.utf8.count)\r\n\r\n\(page)".utf8))
let lsd = "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 51413\r\nInfohash: \(Hex.encode(torrents[2].infoHash).uppercased())\r\ncookie: demo\r\n\r\n\r\n"
frames.append(Frame(bytes: PacketBuilder.udp(from: endpoint("198.51.100.36", 6_771), to: endpoint("239.192.152.143", 6_771), payload: Array(lsd.utf8)), timestamp: nextClock()))

let capturePath = "\(directory)/demo.pcap"
try PcapFileWriter.write(PcapFileWriter.pcap(frames), to: capturePath)

var list = """
    # PeerWatch demo watch list: native format, one `kind:hex [label]` per line.
    # These digests are made up for the demo capture; they identify nothing real.

    """
for torrent in torrents where torrent.listed {
    list += "btih:\(Hex.encode(torrent.infoHash)) \(torrent.name)\n"
}
if let hash = torrentDFile.withUnsafeBytes({ TorrentInfo(torrentFile: $0) })?.infoHashV1 {
    list += "btih:\(hash.hex) demo series D\n"
}
for index in 0 ..< 5 {
    list += "btih:\(Hex.encode(random.bytes(20))) decoy \(index + 1) (not in the capture)\n"
}
list += "sha1:\(Hex.encode(random.bytes(20))) decoy file hash\n"
list += "ed2k:\(Hex.encode(random.bytes(16))) decoy ed2k hash\n"
try Data(list.utf8).write(to: URL(fileURLWithPath: "\(directory)/demo-watchlist.txt"))
print("wrote \(capturePath) (\(frames.count) frames) and \(directory)/demo-watchlist.txt")
