import Foundation
import Logging
import Testing
import PeerWatchCore
import PeerWatchTestSupport
@testable import PeerWatchRuntime

@Suite struct MetricsTests {
    static let seeds = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("seeds")

    /// Reads the demo capture with metrics on; returns the exposition text.
    func demoExposition() throws -> (String, WatchListStore) {
        let metrics = PeerWatchMetrics()
        let store = try WatchListStore(specs: [WatchListSpec(path: Self.seeds.appendingPathComponent("demo-watchlist.txt").path, name: "demo")],
                                       logger: Logger(label: "t"))
        store.onSnapshot { snapshot, generation in metrics.publish(snapshot, generation: generation) }
        var options = PipelineOptions(source: .files([Self.seeds.appendingPathComponent("demo.pcap").path]), sensorName: "t")
        options.metrics = metrics
        let report = try Pipeline(options: options, watchLists: store, logger: Logger(label: "t")).run(stop: StopSignal())
        #expect(report.counters.packets == 429)
        return (metrics.exposition(), store)
    }

    @Test func countersAlertsAndWatchListsAreExposed() throws {
        let (text, store) = try demoExposition()
        let lines = Set(text.split(separator: "\n").map(String.init))
        #expect(lines.contains("peerwatch_packets_total 429"))
        #expect(lines.contains("peerwatch_packets_decoded_total 429"))
        #expect(lines.contains("peerwatch_flows_total 17"))
        #expect(lines.contains(#"peerwatch_p2p_flows_total{protocol="bittorrent"} 5"#))
        #expect(lines.contains(#"peerwatch_p2p_flows_total{protocol="utp"} 1"#))
        #expect(lines.contains(#"peerwatch_alerts_total{protocol="bittorrent",id_type="btih"} 4"#))
        #expect(lines.contains(#"peerwatch_alerts_total{protocol="http",id_type="btih"} 2"#))
        #expect(lines.contains(#"peerwatch_alerts_total{protocol="bittorrent-dht",id_type="btih"} 1"#))
        #expect(lines.contains(#"peerwatch_watchlist_list_entries{list="demo",kind="btih"} 9.0"#))
        #expect(lines.contains(#"peerwatch_watchlist_list_entries{list="demo",kind="sha1"} 1.0"#))
        #expect(lines.contains("peerwatch_watchlist_entries_total 11.0"))
        let sha = store.snapshot.sources[0].sha256
        #expect(lines.contains(#"peerwatch_watchlist_info{list="demo",format="native",sha256="\#(sha)",signer=""} 1.0"#))
        #expect(text.contains("# HELP peerwatch_packets_total Frames read from the capture."))
    }

    /// Dropped records are published as a running total while running: the counter follows it.
    @Test func droppedRecordsFollowTheRunningTotal() {
        let metrics = PeerWatchMetrics()
        metrics.update(recordsDropped: 3)
        metrics.update(recordsDropped: 3)
        metrics.update(recordsDropped: 8)
        #expect(metrics.exposition().contains("peerwatch_records_dropped_total 8\n"))
    }

    @Test func aReloadReplacesTheWatchListSeries() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("l.txt", text: "btih:\(String(repeating: "1", count: 40))\nmd5:\(String(repeating: "2", count: 32))\n")
        let metrics = PeerWatchMetrics()
        let store = try WatchListStore(specs: [WatchListSpec(path: path)], logger: Logger(label: "t"))
        store.onSnapshot { snapshot, generation in metrics.publish(snapshot, generation: generation) }
        #expect(metrics.exposition().contains(#"peerwatch_watchlist_list_entries{list="l",kind="md5"} 1.0"#))
        _ = try directory.write("l.txt", text: "btih:\(String(repeating: "1", count: 40))\n")
        #expect(store.reload().isEmpty)
        let text = metrics.exposition()
        #expect(!text.contains(#"kind="md5""#))
        #expect(text.contains("peerwatch_watchlist_generation 1.0"))
    }

    @Test func theEndpointServesTheExpositionOnLoopback() throws {
        let metrics = PeerWatchMetrics()
        metrics.update(EngineCounters(), activeFlows: 3)
        let server = try MetricsServer(host: "127.0.0.1", port: 0, metrics: metrics, logger: Logger(label: "t"))
        defer { server.stop() }
        #expect(server.port > 0)
        let ok = try httpGet(port: server.port, path: "/metrics")
        #expect(ok.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(ok.contains("peerwatch_flows_active 3.0"))
        #expect(try httpGet(port: server.port, path: "/").hasPrefix("HTTP/1.1 404"))
    }

    func httpGet(port: UInt16, path: String) throws -> String {
        try #require(MetricsClient.get(host: "127.0.0.1", port: port, path: path))
    }
}
