import Foundation
import PeerWatchCore
import PeerWatchTestSupport

/// The benchmark's capture: an ISP-like mix of flows, most of them not P2P, interleaved so that
/// about `activeFlows` are in flight at once and every flow of the capture is still in the
/// table at its end (the capture spans seconds; nothing times out).
///
/// Kinds and shares (of flows): TLS (short exchanges and bulk downloads), QUIC, DNS, plain HTTP,
/// SSH, unknown TCP and UDP; and 7% P2P: BitTorrent peer wire over TCP (handshakes whole, split
/// across segments, or with their segments out of order; extension handshake, bitfield, pieces),
/// over uTP, MSE-encrypted streams, DHT queries and responses, UDP and HTTP tracker announces,
/// Local Service Discovery, .torrent downloads and magnet links over HTTP. A tenth of the flows
/// are IPv6; a fifth carry one VLAN tag and a twentieth two (QinQ). One P2P flow in 40 carries a
/// listed infohash.
struct TrafficMix {
    struct Settings {
        var flows = 310_000
        var activeFlows = 100_000
        var seed: UInt64 = 0x5EED_2026
    }

    struct Summary: Codable {
        var packets = 0
        var flows = 0
        var bytes = 0
        var p2pFlows = 0
        var listed: [String] = []
        var kinds: [String: Int] = [:]
    }

    enum Kind: String, CaseIterable {
        case tlsShort, tlsBulk, quic, dns, http, ssh, otherTCP, otherUDP
        case bittorrentTCP, bittorrentUTP, encryptedBitTorrent, dht, udpTracker, httpTracker, lsd, torrentFile, magnetPage

        /// Flows per 1,000.
        var share: Int {
            switch self {
            case .tlsShort: 390
            case .tlsBulk: 50
            case .quic: 150
            case .dns: 200
            case .http: 80
            case .ssh: 10
            case .otherTCP: 25
            case .otherUDP: 25
            case .bittorrentTCP: 22
            case .bittorrentUTP: 7
            case .encryptedBitTorrent: 6
            case .dht: 15
            case .udpTracker: 5
            case .httpTracker: 5
            case .lsd: 3
            case .torrentFile: 4
            case .magnetPage: 3
            }
        }

        var isP2P: Bool {
            switch self {
            case .tlsShort, .tlsBulk, .quic, .dns, .http, .ssh, .otherTCP, .otherUDP: false
            default: true
            }
        }
    }

    /// What a step sends.
    enum Payload {
        case bytes([UInt8])
        case random(Int)
        /// A TLS application-data record header and random bytes.
        case tlsRecord(Int)
        /// A QUIC short-header packet.
        case quicShort(Int)
    }

    /// How a TCP step's payload is cut.
    enum Cut {
        case whole
        /// In two segments at `at`.
        case split(Int)
        /// In two segments at `at`, the second sent first.
        case reordered(Int)
    }

    struct Step {
        var fromClient: Bool
        var payload: Payload
        var cut = Cut.whole
        var repeats = 1
    }

    /// One flow being generated.
    struct Flow {
        var kind: Kind
        var client: Endpoint
        var server: Endpoint
        var tcp: TCPConversation?
        var vlan: [UInt16]
        var steps: [Step]
        var next = 0
        var opened = false
        /// uTP: sequence numbers each way and the connection id.
        var utp: (connection: UInt16, client: UInt16, server: UInt16) = (0, 0, 0)

        var isTCP: Bool { tcp != nil }
    }

    var random: SeededGenerator
    var summary = Summary()
    let settings: Settings
    private var kindTable: [Kind] = []
    private var clock = Timestamp(seconds: 1_795_000_000, microseconds: 0)

    init(settings: Settings) {
        self.settings = settings
        random = SeededGenerator(seed: settings.seed)
        for kind in Kind.allCases { kindTable += Array(repeating: kind, count: kind.share) }
    }

    /// Writes the capture to `path` (classic pcap, Ethernet).
    mutating func write(to path: String) throws -> Summary {
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? file.close() }
        var buffer = PcapFileWriter.pcap([])
        var active: [Flow] = []
        active.reserveCapacity(settings.activeFlows)
        var created = 0
        while active.count < settings.activeFlows, created < settings.flows {
            active.append(newFlow())
            created += 1
        }
        while !active.isEmpty {
            let index = Int(random.next() % UInt64(active.count))
            let frames = emit(&active[index])
            for var frame in frames {
                clock = Timestamp(microseconds: clock.microseconds + 2)
                frame.timestamp = clock
                PcapFileWriter.appendRecord(&buffer, frame)
                summary.packets += 1
                summary.bytes += frame.bytes.count
            }
            if active[index].next > active[index].steps.count {
                if created < settings.flows {
                    active[index] = newFlow()
                    created += 1
                } else {
                    active.swapAt(index, active.count - 1)
                    active.removeLast()
                }
            }
            if buffer.count > 16 << 20 {
                file.write(Data(buffer))
                buffer.removeAll(keepingCapacity: true)
            }
        }
        file.write(Data(buffer))
        summary.flows = created
        return summary
    }

    // MARK: - Frames

    /// The frames of a flow's next step (its opening first, its close after the last step).
    private mutating func emit(_ flow: inout Flow) -> [Frame] {
        defer { flow.next += flow.opened ? 1 : 0 }
        if var tcp = flow.tcp {
            defer { flow.tcp = tcp }
            tcp.vlanTags = flow.vlan
            if !flow.opened {
                flow.opened = true
                flow.next = -1
                return tcp.open()
            }
            if flow.next == flow.steps.count { return tcp.close() }
            guard flow.next >= 0, flow.next < flow.steps.count else { return [] }
            let step = flow.steps[flow.next]
            var frames: [Frame] = []
            for _ in 0 ..< step.repeats {
                let bytes = materialise(step.payload)
                switch step.cut {
                case .whole:
                    frames += tcp.send(fromClient: step.fromClient, bytes)
                case .split(let at):
                    frames.append(tcp.segment(fromClient: step.fromClient, Array(bytes[..<at])))
                    frames.append(tcp.segment(fromClient: step.fromClient, Array(bytes[at...])))
                case .reordered(let at):
                    let first = tcp.segment(fromClient: step.fromClient, Array(bytes[..<at]))
                    let second = tcp.segment(fromClient: step.fromClient, Array(bytes[at...]))
                    frames += [second, first]
                }
            }
            return frames
        }
        if !flow.opened {
            flow.opened = true
            flow.next = 0
        }
        guard flow.next < flow.steps.count else { return [] }
        let step = flow.steps[flow.next]
        var frames: [Frame] = []
        for _ in 0 ..< step.repeats {
            var bytes = materialise(step.payload)
            if flow.kind == .bittorrentUTP { bytes = utpWrap(&flow, bytes, fromClient: step.fromClient) }
            let (from, to) = step.fromClient ? (flow.client, flow.server) : (flow.server, flow.client)
            frames.append(Frame(bytes: PacketBuilder.udp(from: from, to: to, payload: bytes, vlanTags: flow.vlan), timestamp: clock))
        }
        return frames
    }

    private mutating func materialise(_ payload: Payload) -> [UInt8] {
        switch payload {
        case .bytes(let bytes): return bytes
        case .random(let count): return random.bytes(count)
        case .tlsRecord(let count): return [0x17, 0x03, 0x03, UInt8((count - 5) >> 8), UInt8((count - 5) & 0xFF)] + random.bytes(count - 5)
        case .quicShort(let count): return [0x40 | UInt8(random.next() & 0x3F)] + random.bytes(count - 1)
        }
    }

    /// A uTP packet around `payload`: a SYN for the opener's first (empty) step, STATE for the
    /// other side's empty steps, DATA otherwise.
    private func utpWrap(_ flow: inout Flow, _ payload: [UInt8], fromClient: Bool) -> [UInt8] {
        let type: UInt8
        let connection: UInt16
        let sequence: UInt16
        if fromClient {
            type = payload.isEmpty ? (flow.utp.client == 1 ? 4 : 2) : 0
            connection = type == 4 ? flow.utp.connection : flow.utp.connection &+ 1
            sequence = flow.utp.client
            if !payload.isEmpty || type == 4 { flow.utp.client &+= 1 }
        } else {
            type = payload.isEmpty ? 2 : 0
            connection = flow.utp.connection
            sequence = flow.utp.server
            if !payload.isEmpty { flow.utp.server &+= 1 }
        }
        var out: [UInt8] = [type << 4 | 1, 0, UInt8(connection >> 8), UInt8(connection & 0xFF)]
        out += [0, 0, 0, 1, 0, 0, 0, 2, 0, 0x10, 0, 0]
        out += [UInt8(sequence >> 8), UInt8(sequence & 0xFF), 0, 0]
        return out + payload
    }

    // MARK: - Flows

    private mutating func address(subscriber: Bool, v6: Bool) -> IPAddress {
        let r = random.next()
        if v6 { return IPAddress(ipv6High: subscriber ? 0x2001_0DB8_0100_0000 | (r >> 48) : 0x2001_0DB8_0200_0000 | (r >> 48), low: r & 0xFFFF_FFFF_FFFF) }
        // Subscribers in 100.64.0.0/10 (carrier-grade NAT space), servers anywhere in 198.18.0.0/15.
        return IPAddress(ipv4: subscriber ? 0x6440_0000 | UInt32(truncatingIfNeeded: r) & 0x003F_FFFF : 0xC612_0000 | UInt32(truncatingIfNeeded: r >> 20) & 0x0001_FFFF)
    }

    private mutating func port() -> UInt16 { UInt16(truncatingIfNeeded: 1_024 + random.next() % 64_000) }

    private mutating func infoHash() -> (bytes: [UInt8], listed: Bool) {
        let hash = random.bytes(20)
        let listed = random.next() % 40 == 0
        if listed { summary.listed.append(Hex.encode(hash)) }
        return (hash, listed)
    }

    private mutating func newFlow() -> Flow {
        let kind = kindTable[Int(random.next() % UInt64(kindTable.count))]
        summary.kinds[kind.rawValue, default: 0] += 1
        if kind.isP2P { summary.p2pFlows += 1 }
        let v6 = random.next() % 10 == 0
        let client = Endpoint(address: address(subscriber: true, v6: v6), port: port())
        var server = Endpoint(address: address(subscriber: false, v6: v6), port: 443)
        let tagDraw = random.next() % 20
        let vlan: [UInt16] = tagDraw == 0 ? [100 + UInt16(random.next() % 50), 200 + UInt16(random.next() % 50)] : tagDraw < 4 ? [10 + UInt16(random.next() % 20)] : []
        var steps: [Step] = []
        var udp = false
        func count(_ low: Int, _ high: Int) -> Int { low + Int(random.next() % UInt64(high - low + 1)) }
        switch kind {
        case .tlsShort, .tlsBulk:
            steps.append(Step(fromClient: true, payload: .bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03] + random.bytes(506))))
            steps.append(Step(fromClient: false, payload: .bytes([0x16, 0x03, 0x03, 0x0F, 0xF0] + random.bytes(2_800))))
            steps.append(Step(fromClient: true, payload: .tlsRecord(count(80, 600))))
            steps.append(Step(fromClient: false, payload: .tlsRecord(1_448), repeats: kind == .tlsBulk ? count(20, 40) : count(1, 3)))
        case .quic:
            server.port = 443
            udp = true
            steps.append(Step(fromClient: true, payload: .bytes([0xC3, 0, 0, 0, 1, 8] + random.bytes(8) + [0] + random.bytes(1_185))))
            steps.append(Step(fromClient: false, payload: .bytes([0xC1, 0, 0, 0, 1, 0, 8] + random.bytes(8) + random.bytes(1_180))))
            for _ in 0 ..< count(2, 5) {
                steps.append(Step(fromClient: true, payload: .quicShort(count(40, 200))))
                steps.append(Step(fromClient: false, payload: .quicShort(1_252)))
            }
        case .dns:
            server.port = 53
            udp = true
            let id = random.bytes(2)
            let name: [UInt8] = [7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0, 1, 0, 1]
            steps.append(Step(fromClient: true, payload: .bytes(id + [0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0] + name)))
            steps.append(Step(fromClient: false, payload: .bytes(id + [0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0] + name + [0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0x0E, 0x10, 0, 4] + random.bytes(4))))
        case .http:
            server.port = 80
            let length = count(2_000, 12_000)
            steps.append(Step(fromClient: true, payload: .bytes(Array("GET /img/\(random.next() % 1_000_000).jpg HTTP/1.1\r\nHost: cdn.example.net\r\nUser-Agent: Mozilla/5.0\r\n\r\n".utf8))))
            steps.append(Step(fromClient: false, payload: .bytes(Array("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: \(length)\r\n\r\n".utf8) + random.bytes(length))))
        case .ssh:
            server.port = 22
            steps.append(Step(fromClient: false, payload: .bytes(Array("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n".utf8))))
            steps.append(Step(fromClient: true, payload: .bytes(Array("SSH-2.0-OpenSSH_9.6\r\n".utf8))))
            steps.append(Step(fromClient: true, payload: .random(count(40, 300)), repeats: count(3, 10)))
        case .otherTCP:
            server.port = port()
            steps.append(Step(fromClient: true, payload: .random(count(20, 400))))
            steps.append(Step(fromClient: false, payload: .random(count(20, 1_448)), repeats: count(2, 8)))
        case .otherUDP:
            server.port = port()
            udp = true
            for _ in 0 ..< count(2, 6) { steps.append(Step(fromClient: random.next() % 2 == 0, payload: .random(count(30, 300)))) }
        case .bittorrentTCP:
            server.port = UInt16(6_881 + random.next() % 10)
            let (hash, _) = infoHash()
            let handshake = BitTorrentFixtures.handshake(infoHash: hash, peerID: BitTorrentFixtures.peerID(clientTag: "-qB4630-", using: &random))
            let draw = random.next() % 3
            steps.append(Step(fromClient: true, payload: .bytes(handshake), cut: draw == 0 ? .whole : draw == 1 ? .split(20) : .reordered(30)))
            steps.append(Step(fromClient: false, payload: .bytes(BitTorrentFixtures.handshake(infoHash: hash, peerID: BitTorrentFixtures.peerID(clientTag: "-TR4050-", using: &random))
                    + BitTorrentFixtures.extensionHandshake(utMetadata: 3, client: "Transmission 4.0.5"))))
            steps.append(Step(fromClient: true, payload: .bytes(BitTorrentFixtures.extensionHandshake(utMetadata: 2, client: "qBittorrent/4.6.3")
                    + BitTorrentFixtures.message(id: 2, payload: []))))
            steps.append(Step(fromClient: false, payload: .bytes(BitTorrentFixtures.message(id: 1, payload: []))))
            for _ in 0 ..< count(2, 12) {
                steps.append(Step(fromClient: false, payload: .bytes(BitTorrentFixtures.message(id: 7, payload: [0, 0, 0, 1, 0, 0, 0x40, 0] + random.bytes(1_420)))))
            }
        case .bittorrentUTP:
            server.port = UInt16(6_881 + random.next() % 10)
            udp = true
            let (hash, _) = infoHash()
            steps.append(Step(fromClient: true, payload: .bytes([])))
            steps.append(Step(fromClient: false, payload: .bytes([])))
            steps.append(Step(fromClient: true, payload: .bytes(BitTorrentFixtures.handshake(infoHash: hash, peerID: BitTorrentFixtures.peerID(clientTag: "-UT3550-", using: &random)))))
            steps.append(Step(fromClient: false, payload: .bytes(BitTorrentFixtures.handshake(infoHash: hash, peerID: BitTorrentFixtures.peerID(clientTag: "-lt0D80-", using: &random)))))
            for _ in 0 ..< count(2, 8) { steps.append(Step(fromClient: false, payload: .bytes(BitTorrentFixtures.message(id: 7, payload: [0, 0, 0, 1, 0, 0, 0x40, 0] + random.bytes(1_300))))) }
        case .encryptedBitTorrent:
            server.port = port()
            steps.append(Step(fromClient: true, payload: .random(96 + count(0, 512))))
            steps.append(Step(fromClient: false, payload: .random(96 + count(0, 512))))
            steps.append(Step(fromClient: false, payload: .random(1_448), repeats: count(3, 15)))
        case .dht:
            server.port = UInt16(6_881 + random.next() % 2_000)
            udp = true
            let (hash, _) = infoHash()
            let transaction = random.bytes(2)
            let query = BencodeValue.dictionary([
                ("a", .dictionary([("id", .bytes(random.bytes(20))), ("info_hash", .bytes(hash))])),
                ("q", .text("get_peers")), ("t", .bytes(transaction)), ("y", .text("q")),
            ]).encoded
            let response = BencodeValue.dictionary([
                ("r", .dictionary([("id", .bytes(random.bytes(20))), ("token", .bytes(random.bytes(8))),
                                   ("values", .list((0 ..< 3).map { _ in .bytes(random.bytes(6)) }))])),
                ("t", .bytes(transaction)), ("y", .text("r")),
            ]).encoded
            steps.append(Step(fromClient: true, payload: .bytes(query)))
            steps.append(Step(fromClient: false, payload: .bytes(response)))
        case .udpTracker:
            server.port = 6_969
            udp = true
            let (hash, _) = infoHash()
            let connection = random.bytes(8)
            let transaction = random.bytes(4)
            steps.append(Step(fromClient: true, payload: .bytes([0, 0, 0x04, 0x17, 0x27, 0x10, 0x19, 0x80, 0, 0, 0, 0] + transaction)))
            steps.append(Step(fromClient: false, payload: .bytes([0, 0, 0, 0] + transaction + connection)))
            let peerID = BitTorrentFixtures.peerID(clientTag: "-DE13F0-", using: &random)
            var announce = connection + [0, 0, 0, 1] + transaction + hash + peerID
            announce += [UInt8](repeating: 0, count: 8) + [0, 0, 0, 0, 0, 0x10, 0, 0] + [UInt8](repeating: 0, count: 8)
            announce += [0, 0, 0, 2] + [0, 0, 0, 0] + random.bytes(4) + [0xFF, 0xFF, 0xFF, 0xFF] + [0x1A, 0xE1]
            steps.append(Step(fromClient: true, payload: .bytes(announce)))
            steps.append(Step(fromClient: false, payload: .bytes([0, 0, 0, 1] + transaction + [0, 0, 0x07, 0x08, 0, 0, 0, 5, 0, 0, 0, 9] + random.bytes(18))))
        case .httpTracker:
            server.port = 6_969
            let (hash, _) = infoHash()
            let encoded = hash.map { String(format: "%%%02X", $0) }.joined()
            let peerID = BitTorrentFixtures.peerID(clientTag: "-TR4050-", using: &random).map { String(format: "%%%02X", $0) }.joined()
            steps.append(Step(fromClient: true, payload: .bytes(Array("GET /announce?info_hash=\(encoded)&peer_id=\(peerID)&port=51413&uploaded=0&downloaded=0&left=1000&event=started&compact=1 HTTP/1.1\r\nHost: tracker.example.org:6969\r\n\r\n".utf8))))
            let body = BencodeValue.dictionary([("interval", .integer(1_800)), ("peers", .bytes(random.bytes(30)))]).encoded
            steps.append(Step(fromClient: false, payload: .bytes(Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)))
        case .lsd:
            udp = true
            server = Endpoint(address: v6 ? IPAddress(ipv6High: 0xFF15_0000_0000_0000, low: 0xEFC0_988F) : IPAddress(ipv4: 0xEFC0_988F), port: 6_771)
            let (hash, _) = infoHash()
            steps.append(Step(fromClient: true, payload: .bytes(Array("BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 51413\r\nInfohash: \(Hex.encode(hash))\r\ncookie: \(random.next() % 100_000)\r\n\r\n\r\n".utf8))))
        case .torrentFile:
            server.port = 80
            let info = TorrentFixtures.singleFileInfo(name: "file-\(random.next() % 100_000).iso", length: Int64(count(1, 400)) << 20, pieceLength: 1 << 20, using: &random)
            let torrent = TorrentFixtures.torrentFile(info: info)
            if let parsed = torrent.withUnsafeBytes({ TorrentInfo(torrentFile: $0) }), let id = parsed.infoHashV1, random.next() % 4 == 0 {
                summary.listed.append(id.hex)
            }
            steps.append(Step(fromClient: true, payload: .bytes(Array("GET /download/\(random.next() % 100_000).torrent HTTP/1.1\r\nHost: torrents.example.org\r\n\r\n".utf8))))
            steps.append(Step(fromClient: false, payload: .bytes(Array("HTTP/1.1 200 OK\r\nContent-Type: application/x-bittorrent\r\nContent-Length: \(torrent.count)\r\n\r\n".utf8) + torrent)))
        case .magnetPage:
            server.port = 80
            var page = "<html><body>"
            for _ in 0 ..< 5 {
                let (hash, _) = infoHash()
                page += "<a href=\"magnet:?xt=urn:btih:\(Hex.encode(hash))&dn=item\">item</a>\n" + String(repeating: "lorem ipsum ", count: 40)
            }
            page += "</body></html>"
            steps.append(Step(fromClient: true, payload: .bytes(Array("GET /search?q=\(random.next() % 1_000) HTTP/1.1\r\nHost: index.example.org\r\n\r\n".utf8))))
            steps.append(Step(fromClient: false, payload: .bytes(Array("HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: \(page.utf8.count)\r\n\r\n\(page)".utf8))))
        }
        var flow = Flow(kind: kind, client: client, server: server, tcp: nil, vlan: vlan, steps: steps)
        if kind == .bittorrentUTP { flow.utp = (UInt16(truncatingIfNeeded: random.next()), 1, UInt16(truncatingIfNeeded: random.next())) }
        if !udp {
            flow.tcp = TCPConversation(client: client, server: server, clientISN: UInt32(truncatingIfNeeded: random.next()),
                                       serverISN: UInt32(truncatingIfNeeded: random.next()), start: clock, step: 0, vlanTags: vlan)
        }
        return flow
    }
}
