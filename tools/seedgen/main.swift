// Writes the deterministic demo capture and watch list in seeds/:
//   swift run peerwatch-seedgen [OUTPUT-DIRECTORY]      (default: seeds)
// The same source always gives byte-identical files.
import Foundation
import PeerWatchCore
import PeerWatchTestSupport

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

let capturePath = "\(directory)/demo.pcap"
try PcapFileWriter.write(PcapFileWriter.pcap(frames), to: capturePath)

var list = """
    # PeerWatch demo watch list: native format, one `kind:hex [label]` per line.
    # These digests are made up for the demo capture; they identify nothing real.

    """
for torrent in torrents where torrent.listed {
    list += "btih:\(Hex.encode(torrent.infoHash)) \(torrent.name)\n"
}
for index in 0 ..< 5 {
    list += "btih:\(Hex.encode(random.bytes(20))) decoy \(index + 1) (not in the capture)\n"
}
list += "sha1:\(Hex.encode(random.bytes(20))) decoy file hash\n"
list += "ed2k:\(Hex.encode(random.bytes(16))) decoy ed2k hash\n"
try Data(list.utf8).write(to: URL(fileURLWithPath: "\(directory)/demo-watchlist.txt"))
print("wrote \(capturePath) (\(frames.count) frames) and \(directory)/demo-watchlist.txt")
