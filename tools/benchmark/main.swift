// PeerWatch throughput benchmark.
//
//   swift run -c release peerwatch-benchmark [--packets N] [--capture PATH] [--keep]
//
// Generates a deterministic mixed capture (bulk TCP, web, DNS and QUIC-like UDP, and a share of
// BitTorrent flows, some on the watch list), then reads it twice, each in a child process of its
// own so that peak memory is measured per phase: once with a bare libpcap loop that only touches
// each packet, once with PeerWatch's full `read` pipeline. It prints packets/s, Mbit/s, peak RSS
// and the ratio of the two.
import CPcap
import Foundation
import PeerWatchCore
import PeerWatchRuntime
import PeerWatchTestSupport

struct PhaseResult: Codable {
    var packets: Int
    var bytes: Int
    var seconds: Double
    var peakRSSBytes: Int
    var alerts: Int
}

/// Peak resident set size of this process (VmHWM), in bytes.
func peakRSS() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        let digits = line.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return digits * 1024
    }
    return 0
}

func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

/// The bare libpcap loop: every packet is fetched and its first and last byte touched.
func runBare(_ path: String) -> PhaseResult {
    var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
    guard let handle = pcap_open_offline(path, &errorBuffer) else { fatalError("cannot open \(path)") }
    defer { pcap_close(handle) }
    var header: UnsafeMutablePointer<pcap_pkthdr>?
    var data: UnsafePointer<UInt8>?
    var packets = 0, bytes = 0
    var checksum: UInt8 = 0
    let start = monotonicSeconds()
    while pcap_next_ex(handle, &header, &data) == 1 {
        guard let header, let data else { continue }
        let length = Int(header.pointee.caplen)
        packets += 1
        bytes += Int(header.pointee.len)
        if length > 0 { checksum ^= data[0] ^ data[length - 1] }
    }
    let seconds = monotonicSeconds() - start
    if checksum == 0xFF { print("", terminator: "") }  // keep the loop's reads observable
    return PhaseResult(packets: packets, bytes: bytes, seconds: seconds, peakRSSBytes: peakRSS(), alerts: 0)
}

/// The full pipeline, as `peerwatch read --quiet --log FILE` runs it.
func runPeerWatch(_ path: String, watchList: String) throws -> PhaseResult {
    let snapshot = try WatchListLoader.load(paths: [watchList])
    var options = PipelineOptions(source: .files([path]), sensorName: "benchmark")
    options.logPath = path + ".alerts.json"
    defer { try? FileManager.default.removeItem(atPath: path + ".alerts.json") }
    let start = monotonicSeconds()
    let report = try Pipeline(options: options, watchList: snapshot, logger: .init(label: "benchmark")).run(stop: StopSignal())
    let seconds = monotonicSeconds() - start
    return PhaseResult(packets: report.counters.packets, bytes: report.counters.bytes, seconds: seconds,
                       peakRSSBytes: peakRSS(), alerts: report.counters.matches)
}

/// Writes the mixed capture; returns the watch list's path.
func generate(packets target: Int, to path: String) throws -> String {
    var random = SeededGenerator(seed: 0xBE7C_4A11)
    _ = FileManager.default.createFile(atPath: path, contents: nil)
    let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? file.close() }
    var buffer = PcapFileWriter.pcap([])
    var clock = Timestamp(seconds: 1_795_000_000, microseconds: 0)
    var listed: [[UInt8]] = []
    var written = 0

    /// One flow's remaining frames, produced lazily.
    struct Flow {
        var tcp: TCPConversation?
        var udp: (Endpoint, Endpoint)?
        var script: [(fromClient: Bool, bytes: [UInt8])]
        var opened = false
        var closed = false
    }
    func address(_ random: inout SeededGenerator, subscriber: Bool) -> IPAddress {
        let r = random.next()
        if r % 10 == 0 { return IPAddress(ipv6High: subscriber ? 0x2001_0DB8_0100_0000 : 0x2001_0DB8_0200_0000, low: r >> 8) }
        return IPAddress(ipv4: subscriber ? 0xC633_6400 | UInt32(r & 0xFF) : 0xCB00_7100 | UInt32(r & 0xFF) ^ UInt32(truncatingIfNeeded: r >> 40) << 8 & 0x0F00)
    }
    func newFlow(_ random: inout SeededGenerator) -> Flow {
        let client = Endpoint(address: address(&random, subscriber: true), port: UInt16(truncatingIfNeeded: 1_024 + random.next() % 60_000))
        var server = Endpoint(address: address(&random, subscriber: false), port: 443)
        if server.address.family != client.address.family {
            server.address = client.address.family == .v6 ? IPAddress(ipv6High: 0x2001_0DB8_0200_0000, low: random.next() >> 8) : IPAddress(ipv4: 0xCB00_7105)
        }
        let kind = random.next() % 100
        var script: [(Bool, [UInt8])] = []
        switch kind {
        case 0 ..< 60:  // bulk download: TLS-like records
            script.append((true, [0x16, 0x03, 0x01, 0x01, 0x00] + random.bytes(256)))
            for _ in 0 ..< 20 + Int(random.next() % 200) { script.append((false, random.bytes(1_448))) }
        case 60 ..< 80:  // web request/response
            server.port = 80
            script.append((true, Array("GET /asset/\(random.next() % 100_000) HTTP/1.1\r\nHost: cdn.example.com\r\n\r\n".utf8)))
            script.append((false, Array("HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n".utf8) + random.bytes(4_000)))
        case 80 ..< 95:  // UDP: DNS or QUIC-like
            server.port = kind < 88 ? 53 : 443
            for _ in 0 ..< (kind < 88 ? 1 : 30) {
                script.append((true, random.bytes(kind < 88 ? 40 : 1_200)))
                script.append((false, random.bytes(kind < 88 ? 120 : 1_200)))
            }
            return Flow(tcp: nil, udp: (client, server), script: script)
        default:  // BitTorrent
            server.port = UInt16(truncatingIfNeeded: 6_881 + random.next() % 9)
            let hash = random.bytes(20)
            if random.next() % 4 == 0 { listed.append(hash) }
            script.append((true, BitTorrentFixtures.handshake(infoHash: hash, peerID: BitTorrentFixtures.peerID(clientTag: "-TR3000-", using: &random))))
            script.append((false, BitTorrentFixtures.handshake(infoHash: hash, peerID: BitTorrentFixtures.peerID(clientTag: "-qB4630-", using: &random))))
            for _ in 0 ..< 40 { script.append((false, [0, 0, 0x40, 0x09, 7] + random.bytes(1_443))) }
        }
        let tcp = TCPConversation(client: client, server: server, clientISN: UInt32(truncatingIfNeeded: random.next()),
                                  serverISN: UInt32(truncatingIfNeeded: random.next()), start: clock, step: 0)
        return Flow(tcp: tcp, udp: nil, script: script)
    }

    var active: [Flow] = (0 ..< 2_000).map { _ in newFlow(&random) }
    while written < target {
        let index = Int(random.next() % UInt64(active.count))
        var flow = active[index]
        var frames: [Frame] = []
        if var tcp = flow.tcp {
            tcp.clock = clock
            if !flow.opened {
                frames = tcp.open()
                flow.opened = true
            } else if !flow.script.isEmpty {
                let (fromClient, bytes) = flow.script.removeFirst()
                frames = tcp.send(fromClient: fromClient, bytes)
            } else {
                frames = tcp.close()
                flow.closed = true
            }
            flow.tcp = tcp
        } else if let (client, server) = flow.udp {
            if flow.script.isEmpty {
                flow.closed = true
            } else {
                let (fromClient, bytes) = flow.script.removeFirst()
                let (from, to) = fromClient ? (client, server) : (server, client)
                frames = [Frame(bytes: PacketBuilder.udp(from: from, to: to, payload: bytes), timestamp: clock)]
            }
        }
        for var frame in frames {
            clock = Timestamp(microseconds: clock.microseconds + 8)
            frame.timestamp = clock
            PcapFileWriter.appendRecord(&buffer, frame)
            written += 1
        }
        active[index] = flow.closed ? newFlow(&random) : flow
        if buffer.count > 8 << 20 {
            file.write(Data(buffer))
            buffer.removeAll(keepingCapacity: true)
        }
    }
    file.write(Data(buffer))
    let watchList = path + ".watchlist.txt"
    var text = "# benchmark watch list\n"
    for hash in listed { text += "btih:\(Hex.encode(hash)) benchmark\n" }
    for _ in 0 ..< 10_000 { text += "btih:\(Hex.encode(random.bytes(20)))\n" }
    try Data(text.utf8).write(to: URL(fileURLWithPath: watchList))
    return watchList
}

// MARK: - main

let arguments = Array(CommandLine.arguments.dropFirst())
@MainActor func option(_ name: String) -> String? {
    guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
    return arguments[index + 1]
}

if arguments.first == "watchlist" {
    try WatchListBenchmark.main(arguments: Array(arguments.dropFirst()))
    exit(0)
}

if let phase = option("--phase"), let capture = option("--capture") {
    let result = phase == "bare" ? runBare(capture) : try runPeerWatch(capture, watchList: option("--watchlist") ?? "")
    let data = try JSONEncoder().encode(result)
    FileHandle.standardOutput.write(data)
    exit(0)
}

let packets = Int(option("--packets") ?? "") ?? 1_000_000
let capture = option("--capture") ?? FileManager.default.temporaryDirectory.appendingPathComponent("peerwatch-benchmark.pcap").path
let keep = arguments.contains("--keep")
print("generating \(packets) packets into \(capture) ...")
let watchList = try generate(packets: packets, to: capture)
defer {
    if !keep {
        try? FileManager.default.removeItem(atPath: capture)
        try? FileManager.default.removeItem(atPath: watchList)
    }
}
let fileSize = (try? FileManager.default.attributesOfItem(atPath: capture)[.size] as? Int) ?? 0

@MainActor func child(_ phase: String) throws -> PhaseResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    process.arguments = ["--phase", phase, "--capture", capture, "--watchlist", watchList]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return try JSONDecoder().decode(PhaseResult.self, from: data)
}

_ = try child("bare")  // warm the page cache so both phases read from memory
var bare = try child("bare")
var peerwatch = try child("peerwatch")
// Best of three runs each, against noise on a shared machine.
for _ in 0 ..< 2 {
    let b = try child("bare"), p = try child("peerwatch")
    if b.seconds < bare.seconds { bare = b }
    if p.seconds < peerwatch.seconds { peerwatch = p }
}

func rate(_ r: PhaseResult) -> (pps: Double, mbps: Double) {
    (Double(r.packets) / r.seconds, Double(r.bytes) * 8 / r.seconds / 1e6)
}
let b = rate(bare), p = rate(peerwatch)
print(String(format: "capture: %d packets, %.1f MB, %d alerts raised by peerwatch", bare.packets, Double(fileSize) / 1e6, peerwatch.alerts))
print("phase            packets/s       Mbit/s   peak RSS")
print(String(format: "libpcap loop  %12.0f %12.0f %8.1f MB", b.pps, b.mbps, Double(bare.peakRSSBytes) / 1e6))
print(String(format: "peerwatch     %12.0f %12.0f %8.1f MB", p.pps, p.mbps, Double(peerwatch.peakRSSBytes) / 1e6))
print(String(format: "ratio peerwatch/libpcap: %.3f (packets/s)", p.pps / b.pps))
