import Foundation
import Logging
import Synchronization
import Testing
import PeerWatchCore
import PeerWatchTestSupport
@testable import PeerWatchRuntime

@Suite struct LogRotationTests {
    /// 30,000 alerts are written while another thread keeps moving the log aside and asking
    /// for a reopen, as logrotate does: the rotated files together hold every alert, in one
    /// unbroken chain.
    @Test func rotationUnderLoadLosesNoAlert() throws {
        let directory = try TemporaryDirectory()
        let capture = try WatchListReloadTests.capture(in: directory)
        let list = try directory.write("a.txt", text: WatchListReloadTests.list("A"))
        let logger = Logger(label: "rotation-test")
        let store = try WatchListStore(specs: [WatchListSpec(path: list, name: "A")], logger: logger)
        let log = directory.path + "/alerts.json"
        var options = PipelineOptions(source: .files([capture]), sensorName: "rotation-test")
        options.logPath = log
        let pipeline = Pipeline(options: options, watchLists: store, logger: logger)
        let reopener = pipeline.logReopener
        let done = Atomic<Bool>(false)
        let rotations = Atomic<Int>(0)
        let rotator = Thread {
            var index = 0
            while !done.load(ordering: .relaxed), index < 2_000 {
                usleep(2_000)
                guard FileManager.default.fileExists(atPath: log) else { continue }
                index += 1
                // Rename first, then ask for the reopen: writes in between go to the moved file.
                if (try? FileManager.default.moveItem(atPath: log, toPath: log + ".\(index)")) != nil {
                    reopener.reopen()
                    rotations.add(1, ordering: .relaxed)
                }
            }
        }
        rotator.start()
        let report = try pipeline.run(stop: StopSignal())
        done.store(true, ordering: .relaxed)
        while rotator.isExecuting { usleep(1_000) }
        #expect(rotations.load(ordering: .relaxed) >= 3, "the log was not rotated during the run")

        var files = (1 ... 2_000).map { log + ".\($0)" }.filter { FileManager.default.fileExists(atPath: $0) }
        if FileManager.default.fileExists(atPath: log) { files.append(log) }
        var joined = Data()
        for file in files { joined += try Data(contentsOf: URL(fileURLWithPath: file)) }
        // Shuffled: verify orders the files by their first records.
        let verification = AlertChainVerifier.verify(paths: files.shuffled())
        #expect(verification.problems == [])
        #expect(verification.files.map(\.path) == files)
        let lines = String(decoding: joined, as: UTF8.self).split(separator: "\n")
        let matches = lines.filter { $0.contains("\"event_type\":\"match\"") }
        #expect(matches.count == WatchListReloadTests.packets)
        let events = lines.filter { $0.contains("\"event_type\":\"match\"") || $0.contains("\"event_type\":\"flow_end\"") }
        #expect(report.recordsWritten == events.count)
        #expect(report.recordsDropped == 0)
        // Every file but the last was closed for a rotation and the next opened for a reopen.
        #expect(verification.files.dropLast().allSatisfy { $0.closed })
    }
}
