import Foundation
import Testing

/// `peerwatch run` as a deployment runs it, tried on the faults a review found: a quiet link, socket
/// readers that come and go under a small descriptor limit, SIGHUP through the signal.
@Suite(.serialized, .enabled(if: NamespacePair.isAvailable, "needs root, iproute2 and python3 to create network namespaces"))
struct DaemonFaultTests {
    static let infoHash = "dcfcdccfb9e670ccc3dd40c78c161f2bea243126"

    /// Fault 4: on a quiet link, libpcap 1.10.3 in immediate mode never returned, so the watchdog
    /// starved, metrics went stale, no statistics line came and idle flows never ended. Now the
    /// pings keep coming for 15 s without a packet, and the rest runs on time.
    @Test func aQuietLinkKeepsTheWatchdogFedAndHousekeepingOnTime() throws {
        let namespace = try LoopbackNamespace(tag: "q")
        let work = try scratchDirectory("quiet")
        defer { try? FileManager.default.removeItem(at: work) }
        let notify = try NotifyListener(in: work)
        let list = work.appendingPathComponent("list.txt").path
        let log = work.appendingPathComponent("alerts.json").path
        try "btih:\(Self.infoHash) quiet test\n".write(toFile: list, atomically: true, encoding: .utf8)
        let daemon = try Daemon(in: namespace, work: work, arguments: [
            "--interface", "lo", "--watchlist", list, "--log", log, "--state-dir", work.path, "--metrics", "127.0.0.1:9750",
            "--flow-timeout", "tcp_closed=3", "--stats-interval", "5",
        ], environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "4000000"])
        try daemon.waitUntilCapturing()
        try namespace.exchangeHandshake(infoHash: Self.infoHash)
        #expect(waitUntil(seconds: 10) { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("\"event_type\":\"match\"") })

        // Nothing crosses lo from here on (the metrics query below comes after the window).
        let window = notify.receive(seconds: 15)
        let pings = window.filter { $0.message.hasPrefix("WATCHDOG=1") }.map(\.at)
        #expect(pings.count >= 6, "\(pings.count) watchdog pings in 15 s of quiet")
        let gaps = zip(pings.dropFirst(), pings).map { $0.timeIntervalSince($1) }
        #expect(gaps.allSatisfy { $0 < 3.5 }, "gaps between pings: \(gaps)")
        // The closed flow ended on its 3-second timeout without another packet.
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("\"event_type\":\"flow_end\""), "no flow_end after a quiet 15 s")
        #expect(daemon.standardError.contains("statistics"), "no statistics line: \(daemon.standardError)")
        // The metrics are current: every packet of the exchange is counted.
        let ends = try records(text).filter { $0["event_type"] as? String == "flow_end" }
        let flow = try #require(ends.first?["flow"] as? [String: Any])
        let flowPackets = (flow["pkts_toserver"] as? Int ?? 0) + (flow["pkts_toclient"] as? Int ?? 0)
        let metrics = try namespace.run(["/usr/bin/python3", "-c", "import urllib.request;print(urllib.request.urlopen('http://127.0.0.1:9750/metrics').read().decode())"])
        let packets = metrics.standardOutput.split(separator: "\n").first { $0.hasPrefix("peerwatch_packets_total ") }
            .flatMap { Int($0.split(separator: " ").last ?? "") }
        #expect((packets ?? 0) >= flowPackets, "peerwatch_packets_total \(packets ?? -1), the flow alone had \(flowPackets)")
        daemon.stop()
    }

    /// Fault 3: each reader that disconnected kept a thread and a descriptor until the next
    /// alert; under a 128-descriptor limit accept failed and the listener ended for good, and a
    /// SIGHUP then failed with "Too many open files". Now a disconnect frees everything at once,
    /// accept failures back off and retry, and the daemon goes on serving and rotating.
    @Test func readersComingAndGoingUnderASmallDescriptorLimitLeakNothing() throws {
        let namespace = try LoopbackNamespace(tag: "r")
        let work = try scratchDirectory("readers")
        defer { try? FileManager.default.removeItem(at: work) }
        let list = work.appendingPathComponent("list.txt").path
        let log = work.appendingPathComponent("alerts.json").path
        let socketPath = work.appendingPathComponent("alerts.sock").path
        try "btih:\(Self.infoHash) readers test\n".write(toFile: list, atomically: true, encoding: .utf8)
        let daemon = try Daemon(in: namespace, work: work, arguments: [
            "--interface", "lo", "--watchlist", list, "--log", log, "--state-dir", work.path, "--metrics", "off", "--socket", socketPath,
        ], descriptorLimit: 128)
        try daemon.waitUntilCapturing()
        try #require(waitUntil(seconds: 10) { FileManager.default.fileExists(atPath: socketPath) })
        let baseDescriptors = daemon.descriptors, baseThreads = daemon.threads
        for _ in 0 ..< 5_000 {
            guard let reader = SocketReader(path: socketPath) else { continue }
            _ = reader
        }
        #expect(waitUntil(seconds: 10) { daemon.descriptors <= baseDescriptors + 2 }, "\(daemon.descriptors) descriptors after 5,000 readers left (\(baseDescriptors) before)")
        #expect(daemon.threads == baseThreads, "\(daemon.threads) threads after 5,000 readers left (\(baseThreads) before)")

        // More readers at once than descriptors allow: 64 are served (half the limit), the rest
        // are told the socket is full, or wait while accept backs off; then all leave.
        var crowd: [SocketReader] = []
        for _ in 0 ..< 200 { if let reader = SocketReader(path: socketPath) { crowd.append(reader) } }
        Thread.sleep(forTimeInterval: 1)
        let refusals = crowd.suffix(20).map { $0.lines(seconds: 0.3) { !$0.isEmpty }.first ?? "" }
        #expect(refusals.contains { $0.hasPrefix(#"{"event_type":"refused","reason":"too many readers: 64 are connected"}"#) }, "\(refusals)")
        crowd.removeAll()
        #expect(waitUntil(seconds: 10) { daemon.descriptors <= baseDescriptors + 2 })

        // The listener still serves: a new reader gets the next alert.
        Thread.sleep(forTimeInterval: 1.5)
        let reader = try #require(SocketReader(path: socketPath))
        Thread.sleep(forTimeInterval: 0.5)
        try namespace.exchangeHandshake(infoHash: Self.infoHash)
        let lines = reader.lines(seconds: 10) { $0.contains { $0.contains("\"event_type\":\"match\"") } }
        #expect(lines.contains { $0.contains("\"event_type\":\"match\"") && $0.contains(Self.infoHash) }, "\(lines)")

        // And a rotation still works.
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        kill(daemon.pid, SIGHUP)
        #expect(waitUntil(seconds: 10) { daemon.standardError.contains("alert log reopened") }, "\(daemon.standardError)")
        #expect(!daemon.standardError.contains("alert log reopen failed"))
        #expect(daemon.standardError.contains("alert socket readers capped at half the descriptor limit"))
        daemon.stop()
        #expect(try CommandRunner.peerwatch(["verify", log + ".1", log]).status == 0)
    }

    /// Fault 15: the SIGHUP path was tested only through the API. Here the signal itself must
    /// reopen a rotated log and reload a changed watch list.
    @Test func sighupReopensTheLogAndReloadsTheLists() throws {
        let namespace = try LoopbackNamespace(tag: "h")
        let work = try scratchDirectory("sighup")
        defer { try? FileManager.default.removeItem(at: work) }
        let list = work.appendingPathComponent("list.txt").path
        let log = work.appendingPathComponent("alerts.json").path
        try "btih:\(String(repeating: "ab", count: 20)) not this one\n".write(toFile: list, atomically: true, encoding: .utf8)
        let daemon = try Daemon(in: namespace, work: work, arguments: [
            "--interface", "lo", "--watchlist", list, "--log", log, "--state-dir", work.path, "--metrics", "off",
        ])
        try daemon.waitUntilCapturing()
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        try "btih:\(Self.infoHash) after the reload\n".write(toFile: list, atomically: true, encoding: .utf8)
        kill(daemon.pid, SIGHUP)
        #expect(waitUntil(seconds: 10) { daemon.standardError.contains("watch list reloaded") && daemon.standardError.contains("alert log reopened") },
                "\(daemon.standardError)")
        try namespace.exchangeHandshake(infoHash: Self.infoHash)
        #expect(waitUntil(seconds: 10) { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("after the reload") })
        daemon.stop()
        let rotated = try records(try String(contentsOfFile: log + ".1", encoding: .utf8))
        #expect(rotated.map { $0["event_type"] as? String } == ["log_open", "log_close"])
        #expect((rotated.last?["log"] as? [String: Any])?["reason"] as? String == "rotation")
        let current = try records(try String(contentsOfFile: log, encoding: .utf8))
        #expect(current.first?["event_type"] as? String == "log_open")
        #expect((current.first?["log"] as? [String: Any])?["reason"] as? String == "reopen")
        #expect(try CommandRunner.peerwatch(["verify", log, log + ".1"]).status == 0)
    }
}
