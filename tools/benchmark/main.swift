// PeerWatch throughput benchmark.
//
//   swift run -c release peerwatch-benchmark [--flows N] [--active N] [--list-entries N]
//       [--threads 1,2] [--max-flows N] [--directory DIR] [--regenerate] [--runs N]
//   swift run -c release peerwatch-benchmark watchlist ...   (watch-list loading, see WatchListBenchmark)
//
// Generates (once, then reuses) an ISP-like capture of about ten packets per flow (see
// TrafficMix) and a watch list of ten million entries that names some of its infohashes. Then,
// in one run, each phase in a child process of its own so that peak memory is its own: a bare
// libpcap loop over the file (`pcap_next_ex`, touching each packet), then PeerWatch's `read`
// pipeline with every decoder on and the list loaded, for each worker count. It prints
// packets/s, Mbit/s, CPU seconds, peak RSS and its parts, bytes per flow, and each as a ratio to
// the bare loop.
import CPcap
import Foundation
import PeerWatchCore
import PeerWatchRuntime
import PeerWatchTestSupport

struct PhaseResult: Codable {
    var packets = 0
    var bytes = 0
    var seconds = 0.0
    var cpuSeconds = 0.0
    var peakRSS = 0
    var alerts = 0
    var listSeconds = 0.0
    var listBytes = 0
    var listEntries = 0
    var rssBeforeRun = 0
    var flowsAtEnd = 0
    var slotBytes = 0
    var indexBytes = 0
    var streamBytes = 0
    var decoderBytes = 0
    var p2pFlows = 0
    var flowsCreated = 0
}

/// A /proc/self/status figure, in bytes.
func memory(_ field: String) -> Int { WatchListBenchmark.memory(of: field) }

func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}

/// The bare libpcap loop: every packet is fetched and its first and last byte touched.
func runBare(_ path: String) -> PhaseResult {
    var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
    guard let handle = pcap_open_offline(path, &errorBuffer) else { fatalError("cannot open \(path)") }
    defer { pcap_close(handle) }
    var header: UnsafeMutablePointer<pcap_pkthdr>?
    var data: UnsafePointer<UInt8>?
    var result = PhaseResult()
    var checksum: UInt8 = 0
    let cpu = cpuSeconds()
    let start = monotonicSeconds()
    while pcap_next_ex(handle, &header, &data) == 1 {
        guard let header, let data else { continue }
        let length = Int(header.pointee.caplen)
        result.packets += 1
        result.bytes += Int(header.pointee.len)
        if length > 0 { checksum ^= data[0] ^ data[length - 1] }
    }
    result.seconds = monotonicSeconds() - start
    result.cpuSeconds = cpuSeconds() - cpu
    if checksum == 0xFF { print("", terminator: "") }  // keep the loop's reads observable
    result.peakRSS = memory("VmHWM")
    return result
}

/// The full pipeline, as `peerwatch read --quiet --log FILE --threads N` runs it.
func runPeerWatch(_ path: String, watchList: String, threads: Int, maxFlows: Int) throws -> PhaseResult {
    var result = PhaseResult()
    let listStart = monotonicSeconds()
    let snapshot = try WatchListLoader.load(paths: [watchList])
    result.listSeconds = monotonicSeconds() - listStart
    result.listBytes = snapshot.indexBytes + snapshot.labelBytes
    result.listEntries = snapshot.count
    result.rssBeforeRun = memory("VmRSS")
    var options = PipelineOptions(source: .files([path]), sensorName: "benchmark")
    options.logPath = path + ".alerts.json"
    options.threads = threads
    options.engine.maxFlows = maxFlows
    defer { try? FileManager.default.removeItem(atPath: path + ".alerts.json") }
    let cpu = cpuSeconds()
    let start = monotonicSeconds()
    let report = try Pipeline(options: options, watchList: snapshot, logger: .init(label: "benchmark")).run(stop: StopSignal())
    result.seconds = monotonicSeconds() - start
    result.cpuSeconds = cpuSeconds() - cpu
    result.packets = report.counters.packets
    result.bytes = report.counters.bytes
    result.alerts = report.counters.matches
    result.peakRSS = memory("VmHWM")
    result.flowsAtEnd = report.flowsAtEnd
    result.slotBytes = report.footprint.slots
    result.indexBytes = report.footprint.index
    result.streamBytes = report.footprint.streams
    result.decoderBytes = report.footprint.decoders
    result.p2pFlows = report.counters.p2pFlows.reduce(0, +)
    result.flowsCreated = report.counters.flowsCreated
    return result
}

/// Writes `entries` native entries: `listed` first, then random ones.
func writeWatchList(_ path: String, listed: [String], entries: Int) throws {
    try WatchListBenchmark.write(format: "native", entries: max(0, entries - listed.count), to: path)
    let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? file.close() }
    try file.seekToEnd()
    file.write(Data(listed.map { "btih:\($0) benchmark listed\n" }.joined().utf8))
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
    let result: PhaseResult
    if phase == "bare" {
        result = runBare(capture)
    } else {
        result = try runPeerWatch(capture, watchList: option("--watchlist") ?? "", threads: Int(option("--threads") ?? "") ?? 1,
                                  maxFlows: Int(option("--max-flows") ?? "") ?? 400_000)
    }
    FileHandle.standardOutput.write(try JSONEncoder().encode(result))
    exit(0)
}

var settings = TrafficMix.Settings()
if let flows = option("--flows").flatMap(Int.init) { settings.flows = flows }
if let active = option("--active").flatMap(Int.init) { settings.activeFlows = active }
let listEntries = option("--list-entries").flatMap(Int.init) ?? 10_000_000
let threadCounts = (option("--threads") ?? "1,2").split(separator: ",").compactMap { Int($0) }
let maxFlows = option("--max-flows").flatMap(Int.init) ?? 400_000
let runs = option("--runs").flatMap(Int.init) ?? 3
let directory = option("--directory") ?? FileManager.default.temporaryDirectory.appendingPathComponent("peerwatch-benchmark").path
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
let tag = "\(settings.flows)-\(settings.activeFlows)-\(listEntries)"
let capture = "\(directory)/mix-\(tag).pcap"
let watchList = "\(directory)/list-\(tag).txt"
let summaryPath = "\(directory)/mix-\(tag).json"

var summary: TrafficMix.Summary
if !arguments.contains("--regenerate"), let data = FileManager.default.contents(atPath: summaryPath),
   let cached = try? JSONDecoder().decode(TrafficMix.Summary.self, from: data),
   FileManager.default.fileExists(atPath: capture), FileManager.default.fileExists(atPath: watchList) {
    summary = cached
    print("reusing \(capture)")
} else {
    print("generating \(settings.flows) flows into \(capture) ...")
    var mix = TrafficMix(settings: settings)
    summary = try mix.write(to: capture)
    print("writing a watch list of \(listEntries) entries ...")
    try writeWatchList(watchList, listed: summary.listed, entries: listEntries)
    try JSONEncoder().encode(summary).write(to: URL(fileURLWithPath: summaryPath))
}
let fileSize = (try? FileManager.default.attributesOfItem(atPath: capture)[.size] as? Int) ?? 0
print(String(format: "capture: %d packets, %d flows (%d P2P, %.1f%%), %.0f MB; %d listed infohashes among %d list entries",
             summary.packets, summary.flows, summary.p2pFlows, 100 * Double(summary.p2pFlows) / Double(max(1, summary.flows)),
             Double(fileSize) / 1e6, summary.listed.count, listEntries))

// tools/live-replay.sh only needs the files.
if arguments.contains("--generate-only") {
    print("capture \(capture)")
    print("watchlist \(watchList)")
    exit(0)
}

@MainActor func child(_ arguments: [String]) throws -> PhaseResult {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    process.arguments = arguments + ["--capture", capture, "--watchlist", watchList]
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return try JSONDecoder().decode(PhaseResult.self, from: data)
}

_ = try child(["--phase", "bare"])  // warm the page cache so every phase reads from memory
var bare = try child(["--phase", "bare"])
var best: [Int: PhaseResult] = [:]
// Best of `runs` for each phase, interleaved, against noise on a shared machine.
for _ in 0 ..< runs {
    let b = try child(["--phase", "bare"])
    if b.seconds < bare.seconds { bare = b }
    for threads in threadCounts {
        let p = try child(["--phase", "peerwatch", "--threads", "\(threads)", "--max-flows", "\(maxFlows)"])
        if best[threads].map({ p.seconds < $0.seconds }) ?? true { best[threads] = p }
    }
}

func mb(_ bytes: Int) -> Double { Double(bytes) / 1_048_576 }
let barePPS = Double(bare.packets) / bare.seconds
print("")
print("reader             packets/s     Mbit/s   CPU s   wall s   peak RSS MiB   × bare loop")
print(String(format: "bare libpcap loop %10.0f %10.0f %7.2f %8.2f %14.1f %13.3f", barePPS, Double(bare.bytes) * 8 / bare.seconds / 1e6,
             bare.cpuSeconds, bare.seconds, mb(bare.peakRSS), 1.0))
for threads in threadCounts {
    guard let p = best[threads] else { continue }
    let pps = Double(p.packets) / p.seconds
    print(String(format: "peerwatch, %d %@ %10.0f %10.0f %7.2f %8.2f %14.1f %13.3f", threads, threads == 1 ? "worker " : "workers", pps,
                 Double(p.bytes) * 8 / p.seconds / 1e6, p.cpuSeconds, p.seconds, mb(p.peakRSS), pps / barePPS))
}
for threads in threadCounts {
    guard let p = best[threads] else { continue }
    let flows = max(1, p.flowsAtEnd)
    print("")
    print("peerwatch, \(threads) worker\(threads == 1 ? "" : "s"): \(p.alerts) alerts, \(p.flowsCreated) flows created, \(p.flowsAtEnd) live at the end, \(p.p2pFlows) recognised as P2P")
    print(String(format: "  watch list: %d entries, %.1f MiB (index and labels), loaded in %.2f s", p.listEntries, mb(p.listBytes), p.listSeconds))
    print(String(format: "  flow slots %.1f MiB, index %.1f MiB, reassembly pool %.1f MiB, decoder pools %.1f MiB", mb(p.slotBytes), mb(p.indexBytes),
                 mb(p.streamBytes), mb(p.decoderBytes)))
    print(String(format: "  bytes per live flow: %.0f (slot %d + index %.0f); per flow at capacity %d: %.0f", Double(p.slotBytes + p.indexBytes) / Double(flows),
                 MemoryLayout<FlowSlot>.stride, Double(p.indexBytes) / Double(flows), maxFlows, Double(MemoryLayout<FlowSlot>.stride) + Double(p.indexBytes) / Double(maxFlows)))
    print(String(format: "  peak RSS %.1f MiB: %.1f MiB before the run (list, runtime), %.1f MiB during it", mb(p.peakRSS), mb(p.rssBeforeRun), mb(p.peakRSS - p.rssBeforeRun)))
}
