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

/// Fault 2: rotation with the shipped logrotate file (`create 0640 root root`) left the daemon,
/// running as its own user, unable to open the new file: records went into the rotated one and
/// the next start failed. Here real logrotate runs the shipped file twice over a running
/// `peerwatch run --user peerwatch`, which then restarts.
@Suite(.serialized, .enabled(if: NamespacePair.isAvailable && FileManager.default.isExecutableFile(atPath: "/usr/sbin/logrotate"),
                             "needs root, namespaces and logrotate"))
struct LogRotateTests {
    static let infoHash = DaemonFaultTests.infoHash

    /// The service user of systemd/peerwatch.sysusers.conf, made here if this machine lacks it.
    static func serviceUser() throws -> passwd {
        if let entry = getpwnam("peerwatch") { return entry.pointee }
        let made = try CommandRunner.run("/usr/sbin/useradd", ["--system", "--no-create-home", "--home-dir", "/var/lib/peerwatch",
                                                               "--shell", "/usr/sbin/nologin", "peerwatch"])
        try #require(made.status == 0, "useradd: \(made.standardError)")
        return try #require(getpwnam("peerwatch")).pointee
    }

    @Test func theShippedLogrotateFileRotatesUnderARunningDaemon() throws {
        let user = try Self.serviceUser()
        let namespace = try LoopbackNamespace(tag: "l")
        let work = try scratchDirectory("logrotate")
        defer { try? FileManager.default.removeItem(at: work) }
        // The layout of systemd/peerwatch.tmpfiles.conf, under the scratch directory.
        let logDirectory = work.appendingPathComponent("log").path
        let stateDirectory = work.appendingPathComponent("state").path
        for directory in [logDirectory, stateDirectory] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            #expect(chown(directory, user.pw_uid, user.pw_gid) == 0)
        }
        let log = logDirectory + "/alerts.json"
        let list = work.appendingPathComponent("list.txt").path
        try "btih:\(Self.infoHash) rotation test\n".write(toFile: list, atomically: true, encoding: .utf8)
        // The shipped file, with only the log's place and the way to reach the daemon changed
        // (no systemd here: the daemon's pid instead of systemctl).
        let pidFile = work.appendingPathComponent("peerwatch.pid").path
        let shipped = try String(contentsOf: CommandRunner.packageRoot.appendingPathComponent("systemd/peerwatch.logrotate"), encoding: .utf8)
        try #require(shipped.contains("/var/log/peerwatch/alerts.json {") && shipped.contains("systemctl kill --signal=HUP --kill-whom=main peerwatch.service"))
        let configuration = shipped.replacingOccurrences(of: "/var/log/peerwatch/alerts.json {", with: "\(log) {")
            .replacingOccurrences(of: "systemctl kill --signal=HUP --kill-whom=main peerwatch.service", with: "kill -HUP $(cat \(pidFile))")
        let configurationPath = work.appendingPathComponent("peerwatch.logrotate").path
        try configuration.write(toFile: configurationPath, atomically: true, encoding: .utf8)
        chmod(configurationPath, 0o644)
        let arguments = ["--interface", "lo", "--user", "peerwatch", "--watchlist", list, "--log", log, "--state-dir", stateDirectory, "--metrics", "off"]

        var daemon = try Daemon(in: namespace, work: work, arguments: arguments)
        try daemon.waitUntilCapturing()
        try "\(daemon.pid)\n".write(toFile: pidFile, atomically: true, encoding: .utf8)
        try namespace.exchangeHandshake(infoHash: Self.infoHash)
        #expect(waitUntil(seconds: 10) { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("\"event_type\":\"match\"") })

        func rotate() throws {
            let result = try CommandRunner.run("/usr/sbin/logrotate", ["-f", "-s", work.appendingPathComponent("logrotate.state").path, configurationPath])
            #expect(result.status == 0, "logrotate: \(result.standardError)")
        }
        try rotate()
        #expect(waitUntil(seconds: 10) { daemon.standardError.contains("alert log reopened") }, "\(daemon.standardError)")
        #expect(!daemon.standardError.contains("reopen failed"), "\(daemon.standardError)")
        var status = stat()
        #expect(stat(log, &status) == 0)
        #expect(status.st_uid == user.pw_uid && status.st_gid == user.pw_gid && status.st_mode & 0o777 == 0o640)
        // The next alert goes to the new file, not the rotated one.
        try namespace.exchangeHandshake(infoHash: Self.infoHash, port: 6882)
        #expect(waitUntil(seconds: 10) { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("\"event_type\":\"match\"") },
                "no alert in the new log: \(daemon.standardError)")
        Thread.sleep(forTimeInterval: 1.1)
        try rotate()
        #expect(waitUntil(seconds: 10) { daemon.standardError.components(separatedBy: "alert log reopened").count == 3 }, "\(daemon.standardError)")
        daemon.stop()

        // A restart opens the current file as the service user (it used to fail).
        daemon = try Daemon(in: namespace, work: work, arguments: arguments)
        try daemon.waitUntilCapturing()
        daemon.stop()

        let files = try FileManager.default.contentsOfDirectory(atPath: logDirectory).filter { $0.hasPrefix("alerts.json") }.sorted()
        #expect(files.count == 3, "\(files)")
        #expect(files.contains { $0.hasSuffix(".gz") }, "delaycompress compressed nothing: \(files)")
        let verify = try CommandRunner.peerwatch(["verify"] + files.map { logDirectory + "/" + $0 })
        #expect(verify.status == 0, "\(verify.standardOutput)")
        // log_open, match, log_close | log_open, match, log_close | log_open, 2 flow_end,
        // log_close, and the restart's log_open and log_close.
        #expect(verify.standardOutput.hasSuffix("OK: the chain is whole: 12 records in 3 files\n"), "\(verify.standardOutput)")
    }
}
