import Foundation
import Logging
import Testing
import PeerWatchCore
import PeerWatchTestSupport
@testable import PeerWatchRuntime

@Suite struct VolumeGuardTests {
    /// A flood of 5,000 matches against a limit of 50 a second, with the clock standing still:
    /// exactly the burst of 50 is written, and the other 4,950 are counted in one chained
    /// `suppressed` record at shutdown.
    @Test func aFloodIsHeldBackCountedAndReported() throws {
        let directory = try TemporaryDirectory()
        let capture = try directory.write("c.pcap", PcapFileWriter.pcap(bittorrentFrames(infoHash: listedHash)))
        let snapshot = try WatchListLoader.load(paths: [try directory.write("l.txt", text: listedLine)])
        let match = try #require(try OfflineAnalysis.run(paths: [capture], watchList: snapshot).events.first { if case .match = $0 { true } else { false } })
        let log = directory.path + "/alerts.json"
        let metrics = PeerWatchMetrics()
        let clock = ManualClock()
        let output = try AlertOutput(sensor: SensorIdentity(name: "t", interface: "eth1"), log: .init(path: log), writeToStandardOutput: false,
                                     policy: .waitWhenFull, metrics: metrics, limit: AlertOutput.VolumeLimit(perSecond: 50, burst: 50),
                                     clock: clock.clock, logger: Logger(label: "t"))
        let flood = 5_000
        for _ in 0 ..< flood / 100 { output.submit(Array(repeating: match, count: 100)) }
        try output.close()
        let data = try Data(contentsOf: URL(fileURLWithPath: log))
        #expect(AlertChainVerifier.verify(data).problems == [])
        var written = 0, suppressed = 0, reports = 0
        for line in data.split(separator: 0x0A) {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            switch object["event_type"] as? String {
            case "match": written += 1
            case "suppressed":
                reports += 1
                let details = try #require(object["suppressed"] as? [String: Any])
                suppressed += try #require(details["count"] as? Int)
                #expect(details["limit_per_second"] as? Int == 50)
                #expect(object["interface"] as? String == "eth1")
            case "log_open", "log_close": break
            default: Issue.record("unexpected record \(object)")
            }
        }
        #expect(written == 50)
        #expect(reports == 1)
        #expect(suppressed == 4_950)
        #expect(output.writtenCount == written)
        #expect(metrics.exposition().contains("peerwatch_alerts_suppressed_total \(suppressed)"))
        // Alerts counted in metrics are the ones written, not the ones held back.
        #expect(metrics.summary().alerts == written)
    }

    /// After a flood stops, the records held back are reported once a second has passed,
    /// without waiting for another alert or for shutdown.
    @Test func heldRecordsAreReportedWhenTheFloodStops() throws {
        let directory = try TemporaryDirectory()
        let capture = try directory.write("c.pcap", PcapFileWriter.pcap(bittorrentFrames(infoHash: listedHash)))
        let snapshot = try WatchListLoader.load(paths: [try directory.write("l.txt", text: listedLine)])
        let match = try #require(try OfflineAnalysis.run(paths: [capture], watchList: snapshot).events.first { if case .match = $0 { true } else { false } })
        let log = directory.path + "/alerts.json"
        let clock = ManualClock()
        let output = try AlertOutput(sensor: SensorIdentity(name: "t", interface: nil), log: .init(path: log), writeToStandardOutput: false,
                                     policy: .waitWhenFull, limit: AlertOutput.VolumeLimit(perSecond: 10, burst: 10), clock: clock.clock,
                                     logger: Logger(label: "t"))
        output.submit(Array(repeating: match, count: 100))
        // Not before a second has passed on the output's clock...
        usleep(1_200_000)
        #expect(!((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("\"event_type\":\"suppressed\""))
        // ...and then within the output thread's next wake (half a second), without more alerts.
        clock.advance(by: .seconds(1))
        var held = 0
        for _ in 0 ..< 100 where held == 0 {
            usleep(50_000)
            let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") where line.contains("\"event_type\":\"suppressed\"") {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                held += try #require((object["suppressed"] as? [String: Any])?["count"] as? Int)
            }
        }
        #expect(held == 90, "the held-back records were not reported before shutdown")
        try output.close()
    }

    @Test func withoutALimitEverythingIsWritten() throws {
        let directory = try TemporaryDirectory()
        let capture = try directory.write("c.pcap", PcapFileWriter.pcap(bittorrentFrames(infoHash: listedHash)))
        let snapshot = try WatchListLoader.load(paths: [try directory.write("l.txt", text: listedLine)])
        let match = try #require(try OfflineAnalysis.run(paths: [capture], watchList: snapshot).events.first)
        let log = directory.path + "/alerts.json"
        let output = try AlertOutput(sensor: SensorIdentity(name: "t", interface: nil), log: .init(path: log), writeToStandardOutput: false,
                                     policy: .waitWhenFull, logger: Logger(label: "t"))
        output.submit(Array(repeating: match, count: 3_000))
        try output.close()
        // 3,000 matches between the log_open and the log_close.
        #expect(AlertChainVerifier.verify(paths: [log]).records == 3_002)
        #expect(output.writtenCount == 3_000)
    }
}
