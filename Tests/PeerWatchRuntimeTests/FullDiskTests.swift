import Foundation
import Logging
import Testing
import PeerWatchCore
@testable import PeerWatchRuntime

/// A 256 KiB tmpfs, mounted by the test and unmounted after it (root only; CI runs as root).
final class SmallFilesystem {
    let path: String
    private let directory: TemporaryDirectory

    static var isAvailable: Bool { geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/bin/mount") }

    init(kibibytes: Int = 256) throws {
        directory = try TemporaryDirectory()
        path = directory.path + "/fs"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let status = try CommandRunnerLite.run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(kibibytes)k,mode=0755", "tmpfs", path])
        guard status == 0 else { throw TestFailure("mount tmpfs failed with status \(status)") }
    }

    deinit { _ = try? CommandRunnerLite.run("/bin/umount", [path]) }

    /// Writes a file until the filesystem is full; returns its path.
    func fill() throws -> String {
        let filler = path + "/filler"
        let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { throw TestFailure("cannot create the filler") }
        defer { close(fd) }
        let block = [UInt8](repeating: 0x55, count: 512)
        for _ in 0 ..< 10_000 {
            if block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) <= 0 { return filler }
        }
        throw TestFailure("the filesystem did not fill up")
    }
}

@Suite(.serialized, .enabled(if: SmallFilesystem.isAvailable, "needs root to mount a tmpfs"))
struct FullDiskTests {
    /// Fault 5: with the log on a full filesystem, records reached readers without being
    /// written, one was cut at 4,096 bytes, nothing was counted, and the next record fused onto
    /// the cut line. Now: only whole records, the rest wait (and what does not fit in memory is
    /// counted and reported in a `dropped` record once space returns), and the chain is whole.
    @Test func aFullDiskLosesNothingSilentlyAndNeverCutsARecord() throws {
        let filesystem = try SmallFilesystem()
        let directory = try TemporaryDirectory()
        let match = try listedMatchEvent(in: directory)
        let log = filesystem.path + "/alerts.json"
        let metrics = PeerWatchMetrics()
        let output = try AlertOutput(sensor: SensorIdentity(name: "full-disk", interface: "eth1"), log: .init(path: log),
                                     writeToStandardOutput: false, policy: .waitWhenFull, metrics: metrics, maxPending: 40,
                                     logger: Logger(label: "t"))
        output.submit(Array(repeating: match, count: 3))
        #expect(waitFor(seconds: 5) { output.tally.written == 3 })
        let filler = try filesystem.fill()
        output.submit(Array(repeating: match, count: 100))
        #expect(waitFor(seconds: 5) { output.tally.writeErrors > 0 && output.tally.dropped > 0 })
        usleep(600_000)
        // The log holds whole records only, even where a write stopped part-way.
        let whileFull = try fileLines(log)
        for (index, line) in whileFull.enumerated() {
            #expect((try? ChainedRecord.check(line)) != nil, "line \(index + 1) is not a whole record")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: log)).last == 0x0A)
        // Every one of the 100 is written (in the last page's slack), waiting, or counted lost.
        let tally = output.tally
        #expect(tally.pending <= 40)
        let matchesWhileFull = try whileFull.filter { try ChainedRecord.check($0).eventType == "match" }.count
        #expect(tally.dropped == 100 - (matchesWhileFull - 3) - tally.pending)
        #expect(output.tally.problem?.contains("No space left on device") == true)
        #expect(waitFor(seconds: 3) { metrics.exposition().contains("peerwatch_log_writable 0") })
        #expect(metrics.exposition().contains("peerwatch_records_pending \(tally.pending)"))
        let lost = output.tally.dropped
        #expect(metrics.exposition().contains("peerwatch_records_dropped_total \(lost)"))

        try FileManager.default.removeItem(atPath: filler)
        #expect(waitFor(seconds: 5) { output.tally.pending == 0 })
        output.submit(Array(repeating: match, count: 5))
        try output.close()
        #expect(metrics.exposition().contains("peerwatch_log_writable 1"))

        let report = AlertChainVerifier.verify(paths: [log])
        #expect(report.problems == [])
        let records = try fileLines(log).map { try ChainedRecord.check($0) }
        let types = records.map(\.eventType)
        #expect(types.first == "log_open")
        #expect(types.last == "log_close")
        let dropped = records.filter { $0.eventType == "dropped" }
        #expect(dropped.reduce(0) { $0 + ($1.object["dropped"]?["count"]?.unsigned ?? 0) } == UInt64(lost))
        #expect(dropped.count == 1)
        #expect(dropped.first?.object["dropped"]?["reason"]?.string == "the log could not take records for too long; 40 were kept waiting")
        #expect(types.filter { $0 == "match" }.count == 3 + 100 - lost + 5)
        #expect(output.tally.written == 3 + 100 - lost + 5)
    }

    /// A start on a full filesystem does not fail: the log_open waits with the records.
    @Test func aStartOnAFullDiskWaitsForSpace() throws {
        let filesystem = try SmallFilesystem()
        let directory = try TemporaryDirectory()
        let match = try listedMatchEvent(in: directory)
        let log = filesystem.path + "/alerts.json"
        let filler = try filesystem.fill()
        let output = try AlertOutput(sensor: SensorIdentity(name: "full-disk", interface: nil), log: .init(path: log),
                                     writeToStandardOutput: false, policy: .waitWhenFull, logger: Logger(label: "t"))
        output.submit([match])
        #expect(waitFor(seconds: 5) { output.tally.writeErrors > 0 })
        #expect(try Data(contentsOf: URL(fileURLWithPath: log)).isEmpty)
        try FileManager.default.removeItem(atPath: filler)
        try output.close()
        #expect(try fileLines(log).map { try ChainedRecord.check($0).eventType } == ["log_open", "match", "log_close"])
    }
}
