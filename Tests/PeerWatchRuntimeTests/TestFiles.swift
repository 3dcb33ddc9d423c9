import Foundation
import Logging
import PeerWatchCore
import PeerWatchTestSupport
@testable import PeerWatchRuntime

/// A temporary directory for one test, removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("peerwatch-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` to `name` inside the directory and returns the file's path.
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = "\(path)/\(name)"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    func write(_ name: String, text: String) throws -> String {
        try write(name, Array(text.utf8))
    }
}

/// A BitTorrent flow whose handshake carries `infoHash`, for capture tests.
func bittorrentFrames(infoHash: [UInt8], clientPort: UInt16 = 51_413, link: LinkType = .ethernet, startSecond: Int64 = 1_795_000_000) -> [Frame] {
    let client = Endpoint(address: IPAddress("198.51.100.23") ?? IPAddress(ipv4: 0), port: clientPort)
    let server = Endpoint(address: IPAddress("203.0.113.5") ?? IPAddress(ipv4: 0), port: 6_881)
    var tcp = TCPConversation(client: client, server: server, start: Timestamp(seconds: startSecond, microseconds: 0), link: link)
    var random = SeededGenerator(seed: UInt64(clientPort))
    var frames = tcp.open()
    frames += tcp.send(fromClient: true, BitTorrentFixtures.handshake(infoHash: infoHash, peerID: BitTorrentFixtures.peerID(clientTag: "-TR3000-", using: &random)))
    frames += tcp.close()
    return frames
}

let listedHash: [UInt8] = Hex.decode("dcfcdccfb9e670ccc3dd40c78c161f2bea243126") ?? []
let listedLine = "btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126 series 17\n"

/// The `match` event of one handshake with the listed infohash, for output tests.
func listedMatchEvent(in directory: TemporaryDirectory) throws -> DetectionEvent {
    let capture = try directory.write("listed.pcap", PcapFileWriter.pcap(bittorrentFrames(infoHash: listedHash)))
    let snapshot = try WatchListLoader.load(paths: [try directory.write("listed.txt", text: listedLine)])
    let events = try OfflineAnalysis.run(paths: [capture], watchList: snapshot).events
    guard let match = events.first(where: { if case .match = $0 { true } else { false } }) else {
        throw TestFailure("no match in the listed capture")
    }
    return match
}

/// A test's own failure, with a message.
struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// The lines of a file, without their newlines.
func fileLines(_ path: String) throws -> [[UInt8]] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false).map { Array($0) }
    if lines.last?.isEmpty == true { lines.removeLast() }
    return lines
}

/// Writes `lines`, each with its newline.
func writeLines(_ lines: [[UInt8]], to path: String) throws {
    try Data(lines.flatMap { $0 + [0x0A] }).write(to: URL(fileURLWithPath: path))
}

/// A pipeline reading a FIFO that the test writes in phases, so that what happens between
/// phases (a reload, a rotation) falls between known packets, with no timing involved.
final class PhasedPipeline: @unchecked Sendable {
    // `report` and `failure` are written by the pipeline thread before `done` is signalled.
    private let done = DispatchSemaphore(value: 0)
    private var report: PipelineReport?
    private var failure: (any Error)?
    private var writer: Int32 = -1
    let pipeline: Pipeline

    init(directory: TemporaryDirectory, options configure: (inout PipelineOptions) -> Void, watchLists: WatchListStore) throws {
        let fifo = directory.path + "/capture.fifo"
        guard mkfifo(fifo, 0o600) == 0 else { throw TestFailure("mkfifo failed") }
        var options = PipelineOptions(source: .files([fifo]), sensorName: "phased-test")
        configure(&options)
        pipeline = Pipeline(options: options, watchLists: watchLists, logger: Logger(label: "phased-test"))
        let thread = Thread { [self] in
            do { report = try pipeline.run(stop: StopSignal()) } catch { failure = error }
            done.signal()
        }
        thread.start()
        // Blocks until the pipeline has the FIFO open for reading.
        writer = open(fifo, O_WRONLY)
        guard writer >= 0 else { throw TestFailure("cannot open the FIFO") }
        write(PcapFileWriter.pcap([]))
    }

    /// Writes frames as pcap records.
    func write(_ frames: [Frame]) {
        var bytes: [UInt8] = []
        for frame in frames { PcapFileWriter.appendRecord(&bytes, frame) }
        write(bytes)
    }

    private func write(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(writer, $0.baseAddress, $0.count) }
            if written <= 0 { return }
            offset += written
        }
    }

    /// Ends the capture and waits (at most 60 s) for the pipeline to finish.
    func finish() throws -> PipelineReport {
        close(writer)
        guard done.wait(timeout: .now() + 60) == .success else { throw TestFailure("the pipeline did not finish") }
        if let failure { throw failure }
        guard let report else { throw TestFailure("no report") }
        return report
    }
}

/// The `match` records of a log, parsed.
func matchRecords(in log: String) -> [[String: Any]] {
    let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").filter { $0.contains("\"event_type\":\"match\"") }.compactMap {
        try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
}
