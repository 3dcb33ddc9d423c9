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

    /// Fault 12: the endpoint served one client at a time with a 2 s timeout, so 20 idle local
    /// connections made `peerwatch status` fail.
    @Test func idleConnectionsDoNotBlockTheEndpoint() throws {
        let metrics = PeerWatchMetrics()
        let server = try MetricsServer(host: "127.0.0.1", port: 0, metrics: metrics, logger: Logger(label: "t"))
        defer { server.stop() }
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for _ in 0 ..< 20 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = server.port.bigEndian
            inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
            let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            #expect(connected == 0)
            // Half a request line, never finished.
            _ = "GET /met".withCString { write(fd, $0, 8) }
            idle.append(fd)
        }
        let text = try #require(MetricsClient.metrics(host: "127.0.0.1", port: server.port))
        #expect(text.contains("peerwatch_packets_total 0"))
    }

    @Test func theEndpointAnswersOnIPv6LoopbackAndRefusesOtherMethods() throws {
        let server = try MetricsServer(host: "::1", port: 0, metrics: PeerWatchMetrics(), logger: Logger(label: "t"))
        defer { server.stop() }
        #expect(MetricsClient.metrics(host: "::1", port: server.port)?.contains("peerwatch_packets_total 0") == true)
        #expect(MetricsClient.get(host: "::1", port: server.port, path: "/")?.hasPrefix("HTTP/1.1 404 Not Found") == true)
        #expect(MetricsServer.split("[::1]:9750")! == ("::1", 9750))
        #expect(MetricsServer.split("127.0.0.1:9750")! == ("127.0.0.1", 9750))
        #expect(MetricsServer.split(":9750") == nil)
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
        // sha256sum seeds/demo-watchlist.txt
        let sha = "03829434df5398b9a1bdad1bde5efc736e37d36c764a65b774ad65265c6991e5"
        #expect(store.snapshot.sources[0].sha256 == sha)
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
