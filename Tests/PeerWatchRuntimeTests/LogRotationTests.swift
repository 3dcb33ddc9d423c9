import Foundation
import Logging
import Testing
import PeerWatchCore
import PeerWatchTestSupport
@testable import PeerWatchRuntime

@Suite struct LogRotationTests {
    /// The log is moved aside and reopened twice between known packets, as logrotate does (the
    /// real logrotate, with the shipped file, runs in the command tests): each file holds
    /// exactly the alerts of its part of the capture between its log_open and log_close, and
    /// the three verify as one chain.
    @Test func eachRotatedFileHoldsItsPartAndTheChainRunsOn() throws {
        let directory = try TemporaryDirectory()
        let list = try directory.write("a.txt", text: WatchListReloadTests.list("A"))
        let store = try WatchListStore(specs: [WatchListSpec(path: list, name: "A")], logger: Logger(label: "t"))
        let log = directory.path + "/alerts.json"
        let phased = try PhasedPipeline(directory: directory, options: { $0.logPath = log }, watchLists: store)
        let part = 2_000
        for round in 0 ..< 3 {
            phased.write((round * part ..< (round + 1) * part).map(WatchListReloadTests.frame))
            #expect(waitFor(seconds: 30) { matchRecords(in: log).count == part })
            guard round < 2 else { break }
            // Rename first, then ask for the reopen: a write in between goes to the moved file.
            try FileManager.default.moveItem(atPath: log, toPath: log + ".\(2 - round)")
            phased.pipeline.logReopener.reopen()
            #expect(waitFor(seconds: 10) { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("\"event_type\":\"log_open\"") })
        }
        let report = try phased.finish()
        let files = [log + ".2", log + ".1", log]
        for (index, file) in files.enumerated() {
            let records = try fileLines(file).map { try ChainedRecord.check($0) }
            #expect(records.first?.eventType == "log_open")
            #expect(records.last?.eventType == "log_close")
            #expect(records.last?.log?["reason"]?.string == (index < 2 ? "rotation" : "shutdown"))
            #expect(records.filter { $0.eventType == "match" }.count == part)
            let indexes = matchRecords(in: file).compactMap { WatchListReloadTests.letters($0)?.index }
            #expect(indexes == Array(index * part ..< (index + 1) * part), "\(file) holds packets outside its part")
        }
        let verification = AlertChainVerifier.verify(paths: files.shuffled())
        #expect(verification.problems == [])
        #expect(verification.files.map(\.path) == files)
        // 6,000 matches, and at the end of the capture a flow_end for each of the 3,000 flows
        // (packets 2i and 2i+1 share a source port, so a flow).
        #expect(report.recordsWritten == 3 * part + 3 * part / 2)
        #expect(report.recordsDropped == 0)
    }
}
