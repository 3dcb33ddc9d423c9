// peerwatch-allocations: counts heap allocations on the packet path in steady state.
//
// Run under the malloc interposer (tools/allocations.sh, or the AllocationTests test):
//   LD_PRELOAD=.build/debug/libMallocInterposerSwift.so .build/debug/peerwatch-allocations
//
// Several thousand flows of each kind are opened and warmed up first (every flow created,
// recognised or let go, its decoder state taken from its pool), then more packets of the same
// flows go through the engine with counting on, one kind at a time. It prints one JSON line:
// for each kind, the packets counted and the allocations they made. The packet path's promise
// is zero for packets of known non-P2P flows and for P2P packets that carry no new identifier.

import Foundation
import MallocInterposerSwift
import PeerWatchCore
import PeerWatchTestSupport

/// A reproducible byte source (a 64-bit LCG), so that runs compare.
struct Bytes {
    var state: UInt64
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 11
    }
    mutating func fill(_ count: Int) -> [UInt8] { (0 ..< count).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

/// The frames of one kind of traffic: warm-up first, then the frames that are counted.
struct Traffic {
    var name: String
    var warmUp: [Frame] = []
    var counted: [Frame] = []
}

let flowsPerKind = 2_000
let rounds = 6
nonisolated(unsafe) var bytes = Bytes(state: 0x5EED)
nonisolated(unsafe) var clock: Int64 = 1_700_000_000_000_000

func address(_ n: Int, side: UInt32) -> IPAddress { IPAddress(ipv4: side | UInt32(n & 0xFFFF)) }
func client(_ n: Int, port: UInt16) -> Endpoint { Endpoint(address: address(n, side: 0x6440_0000), port: port) }
func server(_ n: Int, port: UInt16) -> Endpoint { Endpoint(address: address(n, side: 0xC612_0000), port: port) }
func stamp() -> Timestamp {
    clock += 7
    return Timestamp(microseconds: clock)
}

/// TCP flows that open with a TLS record, then carry application data both ways.
func tls() -> Traffic {
    var traffic = Traffic(name: "tls")
    var conversations: [TCPConversation] = []
    for n in 0 ..< flowsPerKind {
        var c = TCPConversation(client: client(n, port: UInt16(20_000 + n)), server: server(n, port: 443), start: stamp(), step: 3)
        traffic.warmUp += c.open()
        let hello: [UInt8] = [0x16, 0x03, 0x01, 0x00, 0xC8, 0x01, 0x00, 0x00, 0xC4, 0x03, 0x03] + bytes.fill(197)
        traffic.warmUp += c.send(fromClient: true, hello)
        traffic.warmUp += c.send(fromClient: false, [0x16, 0x03, 0x03, 0x00, 0x50, 0x02] + bytes.fill(79))
        conversations.append(c)
    }
    for _ in 0 ..< rounds {
        for n in conversations.indices {
            let record: [UInt8] = [0x17, 0x03, 0x03, 0x02, 0x00] + bytes.fill(512)
            traffic.counted += conversations[n].send(fromClient: n % 2 == 0, record)
        }
    }
    return traffic
}

/// UDP flows on 443 that open with a QUIC long header, then carry short-header packets.
func quic() -> Traffic {
    var traffic = Traffic(name: "quic")
    for n in 0 ..< flowsPerKind {
        let a = client(n, port: UInt16(30_000 + n)), b = server(n, port: 443)
        let initial: [UInt8] = [0xC3, 0x00, 0x00, 0x00, 0x01, 0x08] + bytes.fill(8) + [0x00] + bytes.fill(1_180)
        traffic.warmUp.append(Frame(bytes: PacketBuilder.udp(from: a, to: b, payload: initial), timestamp: stamp()))
        traffic.warmUp.append(Frame(bytes: PacketBuilder.udp(from: b, to: a, payload: [0xC1, 0x00, 0x00, 0x00, 0x01] + bytes.fill(600)), timestamp: stamp()))
    }
    for _ in 0 ..< rounds {
        for n in 0 ..< flowsPerKind {
            let a = client(n, port: UInt16(30_000 + n)), b = server(n, port: 443)
            traffic.counted.append(Frame(bytes: PacketBuilder.udp(from: a, to: b, payload: [0x43] + bytes.fill(300)), timestamp: stamp()))
        }
    }
    return traffic
}

/// TCP flows of unknown bytes on high ports: warmed up past the probing bounds, so that they
/// are let go, then more of the same.
func unknownTCP() -> Traffic {
    var traffic = Traffic(name: "unknown_tcp")
    var conversations: [TCPConversation] = []
    for n in 0 ..< flowsPerKind / 4 {
        var c = TCPConversation(client: client(n, port: UInt16(40_000 + n)), server: server(n, port: 9_000), start: stamp(), step: 3)
        traffic.warmUp += c.open()
        for _ in 0 ..< ProbingBounds.maxPackets + 2 {
            traffic.warmUp += c.send(fromClient: true, bytes.fill(200))
            traffic.warmUp += c.send(fromClient: false, bytes.fill(200))
        }
        conversations.append(c)
    }
    for _ in 0 ..< rounds {
        for n in conversations.indices { traffic.counted += conversations[n].send(fromClient: n % 2 == 1, bytes.fill(900)) }
    }
    return traffic
}

/// UDP flows of unknown bytes: past the datagrams probing allows, then more.
func unknownUDP() -> Traffic {
    var traffic = Traffic(name: "unknown_udp")
    for n in 0 ..< flowsPerKind {
        let a = client(n, port: UInt16(50_000 + n % 10_000)), b = server(n, port: 7_000)
        for _ in 0 ..< ProbingBounds.maxUnrecognisedDatagrams + 2 {
            traffic.warmUp.append(Frame(bytes: PacketBuilder.udp(from: a, to: b, payload: bytes.fill(120)), timestamp: stamp()))
        }
    }
    for _ in 0 ..< rounds {
        for n in 0 ..< flowsPerKind {
            let a = client(n, port: UInt16(50_000 + n % 10_000)), b = server(n, port: 7_000)
            traffic.counted.append(Frame(bytes: PacketBuilder.udp(from: b, to: a, payload: bytes.fill(400)), timestamp: stamp()))
        }
    }
    return traffic
}

/// BitTorrent peer-wire flows: handshakes and bitfields to warm up, then `have`, `request`,
/// `piece` and keep-alive messages, which carry no new identifier.
func peerWire() -> Traffic {
    var traffic = Traffic(name: "bittorrent_peer_wire")
    var conversations: [TCPConversation] = []
    func handshake(_ infoHash: [UInt8], peer: String) -> [UInt8] {
        var reserved = [UInt8](repeating: 0, count: 8)
        reserved[5] = 0x10
        return [19] + Array("BitTorrent protocol".utf8) + reserved + infoHash + Array(peer.utf8) + bytes.fill(12)
    }
    for n in 0 ..< flowsPerKind / 4 {
        var c = TCPConversation(client: client(n, port: UInt16(10_000 + n)), server: server(n, port: 6_881), start: stamp(), step: 3)
        traffic.warmUp += c.open()
        let infoHash = bytes.fill(20)
        traffic.warmUp += c.send(fromClient: true, handshake(infoHash, peer: "-qB4630-"))
        traffic.warmUp += c.send(fromClient: false, handshake(infoHash, peer: "-TR3000-"))
        traffic.warmUp += c.send(fromClient: false, [0, 0, 0, 17, 5] + [UInt8](repeating: 0xFF, count: 16))
        traffic.warmUp += c.send(fromClient: true, [0, 0, 0, 1, 2])
        conversations.append(c)
    }
    for round in 0 ..< rounds {
        for n in conversations.indices {
            let index = UInt8(truncatingIfNeeded: round)
            traffic.counted += conversations[n].send(fromClient: true, [0, 0, 0, 13, 6, 0, 0, 0, index, 0, 0, 0, 0, 0, 0, 0x40, 0])
            traffic.counted += conversations[n].send(fromClient: false, [0, 0, 0x04, 0x09, 7, 0, 0, 0, index, 0, 0, 0, 0] + bytes.fill(1_024))
            traffic.counted += conversations[n].send(fromClient: true, [0, 0, 0, 5, 4, 0, 0, 0, index])
            traffic.counted += conversations[n].send(fromClient: false, [0, 0, 0, 0])
        }
    }
    return traffic
}

/// DHT nodes exchanging `ping` queries and responses (node ids, no content identifier).
func dht() -> Traffic {
    var traffic = Traffic(name: "bittorrent_dht")
    func ping(_ transaction: [UInt8], id: [UInt8]) -> [UInt8] {
        Array("d1:ad2:id20:".utf8) + id + Array("e1:q4:ping1:t2:".utf8) + transaction + Array("1:y1:qe".utf8)
    }
    func pong(_ transaction: [UInt8], id: [UInt8]) -> [UInt8] {
        Array("d1:rd2:id20:".utf8) + id + Array("e1:t2:".utf8) + transaction + Array("1:y1:re".utf8)
    }
    var ids: [[UInt8]] = []
    for n in 0 ..< flowsPerKind / 2 {
        let a = client(n, port: UInt16(60_000 + n % 5_000)), b = server(n, port: 6_881)
        let id = bytes.fill(20), other = bytes.fill(20)
        ids.append(id)
        traffic.warmUp.append(Frame(bytes: PacketBuilder.udp(from: a, to: b, payload: ping([0x61, 0x61], id: id)), timestamp: stamp()))
        traffic.warmUp.append(Frame(bytes: PacketBuilder.udp(from: b, to: a, payload: pong([0x61, 0x61], id: other)), timestamp: stamp()))
    }
    for round in 0 ..< rounds {
        for n in ids.indices {
            let a = client(n, port: UInt16(60_000 + n % 5_000)), b = server(n, port: 6_881)
            let transaction: [UInt8] = [0x62, UInt8(0x61 + round)]
            traffic.counted.append(Frame(bytes: PacketBuilder.udp(from: a, to: b, payload: ping(transaction, id: ids[n])), timestamp: stamp()))
            traffic.counted.append(Frame(bytes: PacketBuilder.udp(from: b, to: a, payload: pong(transaction, id: ids[n])), timestamp: stamp()))
        }
    }
    return traffic
}

// --self-check: a thousand allocations the counter must see, so that a missing preload or a
// broken counter cannot pass for an allocation-free packet path.
if CommandLine.arguments.dropFirst().first == "--self-check" {
    MallocInterposerSwift.initialize()
    MallocInterposerSwift.hook()
    for n in 0 ..< 1_000 {
        let pointer = UnsafeMutableRawPointer.allocate(byteCount: 64 + n, alignment: 8)
        pointer.deallocate()
    }
    MallocInterposerSwift.unhook()
    print("{\"self_check_allocations\":\(MallocInterposerSwift.getStatistics().mallocCount)}")
    exit(0)
}

// A listed identifier that none of this traffic carries: the list is consulted, not matched.
let list = EngineHarness.watchList([ContentID(kind: .btih, bytes: [UInt8](repeating: 0xAB, count: 20))].compactMap { $0 }, label: "not here")
var configuration = EngineConfiguration()
configuration.maxFlows = 65_536
var engine = DetectionEngine(configuration: configuration, watchList: list)
var events: [DetectionEvent] = []
events.reserveCapacity(1_024)

let kinds = [tls(), quic(), unknownTCP(), unknownUDP(), peerWire(), dht()]
for kind in kinds {
    for frame in kind.warmUp {
        frame.bytes.withUnsafeBytes { engine.process(frame: $0, wireLength: frame.wireLength, timestamp: frame.timestamp, link: .ethernet, events: &events) }
    }
}
events.removeAll(keepingCapacity: true)

var results: [String] = []
MallocInterposerSwift.initialize()
for kind in kinds {
    MallocInterposerSwift.reset()
    MallocInterposerSwift.hook()
    for frame in kind.counted {
        frame.bytes.withUnsafeBytes { engine.process(frame: $0, wireLength: frame.wireLength, timestamp: frame.timestamp, link: .ethernet, events: &events) }
    }
    MallocInterposerSwift.unhook()
    let statistics = MallocInterposerSwift.getStatistics()
    results.append("\"\(kind.name)\":{\"packets\":\(kind.counted.count),\"allocations\":\(statistics.mallocCount),\"events\":\(events.count)}")
    events.removeAll(keepingCapacity: true)
}
// Flows each family recognised: the P2P kinds really went through their decoders.
let p2p = engine.counters.p2pFlows.reduce(0, +)
print("{\"flows\":\(engine.flowCount),\"p2p_flows\":\(p2p),\(results.joined(separator: ","))}")
