import Foundation
import Testing

/// Two network namespaces joined by a veth pair, made by the test and removed after it.
/// Addresses come from TEST-NET-2 (198.51.100.0/24); no traffic leaves the namespaces.
final class NamespacePair {
    let client: String, server: String
    let clientInterface: String, serverInterface: String
    static let clientAddress = "198.51.100.201"
    static let serverAddress = "198.51.100.202"

    /// Whether the test can make namespaces here (root and iproute2; CI runs as root).
    static var isAvailable: Bool {
        geteuid() == 0 && FileManager.default.isExecutableFile(atPath: ip) && FileManager.default.fileExists(atPath: "/usr/bin/python3")
    }

    static var ip: String { FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") ? "/usr/sbin/ip" : "/sbin/ip" }

    init() throws {
        let tag = String(getpid() % 100_000)
        client = "pwc\(tag)"
        server = "pws\(tag)"
        clientInterface = "pwvc\(tag)"
        serverInterface = "pwvs\(tag)"
        try? tearDown()
        for arguments in [
            ["netns", "add", client], ["netns", "add", server],
            ["link", "add", clientInterface, "type", "veth", "peer", "name", serverInterface],
            ["link", "set", clientInterface, "netns", client], ["link", "set", serverInterface, "netns", server],
            ["-n", client, "addr", "add", "\(Self.clientAddress)/24", "dev", clientInterface],
            ["-n", server, "addr", "add", "\(Self.serverAddress)/24", "dev", serverInterface],
            ["-n", client, "link", "set", clientInterface, "up"], ["-n", server, "link", "set", serverInterface, "up"],
            ["-n", client, "link", "set", "lo", "up"], ["-n", server, "link", "set", "lo", "up"],
        ] {
            let result = try CommandRunner.run(Self.ip, arguments, timeout: 20)
            guard result.status == 0 else { throw SetupError(message: "ip \(arguments.joined(separator: " ")): \(result.standardError)") }
        }
    }

    deinit { try? tearDown() }

    /// Deletes the veth pair (both ends go) and, after `pause` seconds, makes it again.
    func recreateLink(after pause: TimeInterval) throws {
        _ = try CommandRunner.run(Self.ip, ["-n", client, "link", "del", clientInterface], timeout: 20)
        Thread.sleep(forTimeInterval: pause)
        for arguments in [
            ["link", "add", clientInterface, "type", "veth", "peer", "name", serverInterface],
            ["link", "set", clientInterface, "netns", client], ["link", "set", serverInterface, "netns", server],
            ["-n", client, "addr", "add", "\(Self.clientAddress)/24", "dev", clientInterface],
            ["-n", server, "addr", "add", "\(Self.serverAddress)/24", "dev", serverInterface],
            ["-n", client, "link", "set", clientInterface, "up"], ["-n", server, "link", "set", serverInterface, "up"],
        ] {
            let result = try CommandRunner.run(Self.ip, arguments, timeout: 20)
            guard result.status == 0 else { throw SetupError(message: "ip \(arguments.joined(separator: " ")): \(result.standardError)") }
        }
    }

    private func tearDown() throws {
        _ = try CommandRunner.run(Self.ip, ["netns", "del", client], timeout: 20)
        _ = try CommandRunner.run(Self.ip, ["netns", "del", server], timeout: 20)
    }

    /// Starts `arguments` inside namespace `name` without waiting for it.
    func start(in name: String, _ arguments: [String], standardError: FileHandle? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.ip)
        process.arguments = ["netns", "exec", name] + arguments
        process.currentDirectoryURL = CommandRunner.packageRoot
        if let standardError { process.standardError = standardError }
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        return process
    }

    struct SetupError: Error { var message: String }
}

/// Polls `condition` every 50 ms for at most `seconds`.
func waitUntil(seconds: TimeInterval, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return condition()
}

@Suite(.serialized, .enabled(if: NamespacePair.isAvailable, "needs root, iproute2 and python3 to create network namespaces"))
struct LiveCaptureTests {
    static let infoHash = "dcfcdccfb9e670ccc3dd40c78c161f2bea243126"

    /// A peer that accepts one connection, reads a handshake and answers with its own.
    static let server = """
        import socket, sys
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("198.51.100.202", 6881)); s.listen(1); s.settimeout(20)
        open(sys.argv[1], "w").close()
        c, _ = s.accept(); c.settimeout(10)
        data = b""
        while len(data) < 68:
            chunk = c.recv(68 - len(data))
            if not chunk: break
            data += chunk
        c.sendall(data[:48] + b"-qB4630-" + b"s" * 12); c.close()
        """

    /// A peer that connects and sends a BEP 3 handshake for the watch-listed torrent.
    static let client = """
        import socket
        h = bytes([19]) + b"BitTorrent protocol" + bytes(8) + bytes.fromhex("\(infoHash)") + b"-TR3000-" + b"c" * 12
        s = socket.create_connection(("198.51.100.202", 6881), timeout=10); s.sendall(h)
        s.recv(68); s.close()
        """

    /// Runs the two test peers across `pair`: the client's handshake for the listed infohash
    /// crosses the veth and the server answers. `ready` is the file the server makes when listening.
    func exchangeHandshake(across pair: NamespacePair, ready: String) throws {
        let server = try pair.start(in: pair.server, ["/usr/bin/python3", "-c", Self.server, ready])
        defer { if server.isRunning { server.terminate() } }
        try #require(waitUntil(seconds: 15) { FileManager.default.fileExists(atPath: ready) }, "the test peer did not listen")
        let client = try CommandRunner.run(NamespacePair.ip, ["netns", "exec", pair.client, "/usr/bin/python3", "-c", Self.client], timeout: 30)
        #expect(client.status == 0, "\(client.standardError)")
    }

    /// Sends SIGTERM and expects a clean exit within 15 s.
    func stopCleanly(_ monitor: Process) {
        kill(monitor.processIdentifier, SIGTERM)
        let stopped = waitUntil(seconds: 15) { !monitor.isRunning }
        #expect(stopped, "peerwatch did not stop on SIGTERM")
        if !stopped { kill(monitor.processIdentifier, SIGKILL) }
        monitor.waitUntilExit()
        #expect(monitor.terminationStatus == 0)
    }

    @Test func runCapturesAHandshakeAcrossNamespacesAndAlerts() throws {
        let pair = try NamespacePair()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("peerwatch-live-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let list = work.appendingPathComponent("list.txt").path
        let log = work.appendingPathComponent("alerts.json").path
        let errors = work.appendingPathComponent("peerwatch.err").path
        let ready = work.appendingPathComponent("server.ready").path
        try "btih:\(Self.infoHash) live test\n".write(toFile: list, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: errors, contents: nil)
        let errorHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errors))

        // Two workers in a PACKET_FANOUT group: its address hash keeps both directions
        // of the flow on one of them.
        let monitor = try pair.start(in: pair.client, [CommandRunner.binary, "run", "--interface", pair.clientInterface, "--threads", "2",
                                                       "--watchlist", list, "--log", log, "--sensor", "live-test",
                                                       "--home-net", "198.51.100.201/32"], standardError: errorHandle)
        defer { if monitor.isRunning { monitor.terminate() } }
        let started = waitUntil(seconds: 15) { ((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "").contains("capture started") }
        try #require(started, "peerwatch did not start: \((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "")")

        try exchangeHandshake(across: pair, ready: ready)

        let alerted = waitUntil(seconds: 15) { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("\"match\"") }
        #expect(alerted, "no match in the log")
        stopCleanly(monitor)
        try errorHandle.close()

        let all = try records(try String(contentsOfFile: log, encoding: .utf8))
        let matches = all.filter { $0["event_type"] as? String == "match" }
        let ends = all.filter { $0["event_type"] as? String == "flow_end" }
        // The infohash crosses the flow both ways: one match (the first sighting), and the
        // flow_end written at shutdown counts both sightings.
        try #require(matches.count == 1, "\(all)")
        let match = matches[0]
        #expect(match["src_ip"] as? String == NamespacePair.clientAddress)
        #expect(match["dest_ip"] as? String == NamespacePair.serverAddress)
        #expect(match["dest_port"] as? Int == 6881)
        #expect(match["proto"] as? String == "TCP")
        #expect(match["interface"] as? String == pair.clientInterface)
        #expect(match["sensor"] as? String == "live-test")
        #expect(match["subscriber"] as? String == "src")
        let p2p = try #require(match["p2p"] as? [String: Any])
        #expect(p2p["id"] as? String == Self.infoHash)
        #expect(p2p["message"] as? String == "handshake")
        #expect(p2p["role"] as? String == "seeking")
        #expect(p2p["direction"] as? String == "to_server")
        #expect((p2p["context"] as? [String: Any])?["client"] as? String == "-TR3000-")
        #expect((match["watchlist"] as? [String: Any])?["label"] as? String == "live test")
        try #require(ends.count == 1)
        #expect((ends[0]["flow"] as? [String: Any])?["reason"] as? String == "shutdown")
        let sightings = ((ends[0]["p2p"] as? [String: Any])?["matches"] as? [[String: Any]])?.first?["sightings"] as? Int
        #expect(sightings == 2)
        let finished = try String(contentsOfFile: errors, encoding: .utf8)
        #expect(finished.contains("capture.workers=2"), "\(finished)")
        #expect(finished.contains("capture.dropped.kernel=0"))
    }

    /// Whether this kernel makes VXLAN devices (the one kernel tunnel the live test builds).
    static var kernelHasVXLAN: Bool {
        guard NamespacePair.isAvailable else { return false }
        let name = "pwvx\(getpid() % 100_000)"
        guard (try? CommandRunner.run(NamespacePair.ip, ["netns", "add", name], timeout: 20))?.status == 0 else { return false }
        defer { _ = try? CommandRunner.run(NamespacePair.ip, ["netns", "del", name], timeout: 20) }
        let made = try? CommandRunner.run(NamespacePair.ip, ["-n", name, "link", "add", "vx0", "type", "vxlan", "id", "1", "remote", "192.0.2.1", "dstport", "4789"], timeout: 20)
        return made?.status == 0
    }

    /// Real kernel carriers as a tap delivers them, captured on the underlay by two workers: a
    /// VXLAN overlay between the namespaces (inner 10.20.0.0/24) carrying a BitTorrent handshake
    /// and a 2.6 KB DHT query that the kernel cuts into inner fragments inside whole VXLAN
    /// packets, and the same query sent on the underlay, cut into outer fragments.
    @Test(.enabled(if: kernelHasVXLAN, "this kernel makes no VXLAN devices"))
    func runSeesThroughAKernelTunnelAndKernelFragments() throws {
        let pair = try NamespacePair()
        for (namespace, local, remote, inner) in [(pair.client, NamespacePair.clientAddress, NamespacePair.serverAddress, "10.20.0.1/24"),
                                                  (pair.server, NamespacePair.serverAddress, NamespacePair.clientAddress, "10.20.0.2/24")] {
            for arguments in [["-n", namespace, "link", "add", "pwvx", "type", "vxlan", "id", "5001", "local", local, "remote", remote, "dstport", "4789"],
                              ["-n", namespace, "addr", "add", inner, "dev", "pwvx"], ["-n", namespace, "link", "set", "pwvx", "up"]] {
                let result = try CommandRunner.run(NamespacePair.ip, arguments, timeout: 20)
                try #require(result.status == 0, "ip \(arguments.joined(separator: " ")): \(result.standardError)")
            }
        }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("peerwatch-tunnel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let list = work.appendingPathComponent("list.txt").path, log = work.appendingPathComponent("alerts.json").path
        let errors = work.appendingPathComponent("peerwatch.err").path, ready = work.appendingPathComponent("server.ready").path
        try "btih:\(Self.infoHash) tunnel test\n".write(toFile: list, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: errors, contents: nil)
        let errorHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errors))
        let monitor = try pair.start(in: pair.client, [CommandRunner.binary, "run", "--interface", pair.clientInterface, "--threads", "2",
                                                       "--watchlist", list, "--log", log, "--sensor", "tunnel-test"], standardError: errorHandle)
        defer { if monitor.isRunning { monitor.terminate() } }
        try #require(waitUntil(seconds: 15) { ((try? String(contentsOfFile: errors, encoding: .utf8)) ?? "").contains("capture started") })

        let server = try pair.start(in: pair.server, ["/usr/bin/python3", "-c", Self.server.replacingOccurrences(of: "198.51.100.202", with: "10.20.0.2"), ready])
        defer { if server.isRunning { server.terminate() } }
        try #require(waitUntil(seconds: 15) { FileManager.default.fileExists(atPath: ready) }, "the test peer did not listen")
        let client = try CommandRunner.run(NamespacePair.ip, ["netns", "exec", pair.client, "/usr/bin/python3", "-c",
                                                              Self.client.replacingOccurrences(of: "198.51.100.202", with: "10.20.0.2")], timeout: 30)
        #expect(client.status == 0, "\(client.standardError)")
        // Datagrams past the MTU, fragmented by the sender's kernel (path MTU discovery off).
        let query = """
            import socket
            q = b"d1:ad2:id20:" + b"a" * 20 + b"9:info_hash20:" + bytes.fromhex("\(Self.infoHash)") + b"5:token2500:" + b"t" * 2500 + b"e1:q9:get_peers1:t2:aa1:y1:qe"
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.setsockopt(socket.IPPROTO_IP, 10, 0)
            s.sendto(q, ("10.20.0.2", 6881)); s.sendto(q, ("198.51.100.202", 6882))
            """
        let sent = try CommandRunner.run(NamespacePair.ip, ["netns", "exec", pair.client, "/usr/bin/python3", "-c", query], timeout: 30)
        #expect(sent.status == 0, "\(sent.standardError)")
        let alerted = waitUntil(seconds: 15) { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").components(separatedBy: "\"match\"").count - 1 >= 3 }
        #expect(alerted, "fewer than three matches in the log")
        stopCleanly(monitor)
        try errorHandle.close()

        let all = try records(try String(contentsOfFile: log, encoding: .utf8))
        let matches = all.filter { $0["event_type"] as? String == "match" }
        // One TCP flow across the two workers: the VXLAN packets of its two directions have
        // different outer UDP ports, and the fan-out program keeps them together all the same.
        try #require(matches.count == 3, "\(matches)")
        let tcpEnds = all.filter { $0["event_type"] as? String == "flow_end" && $0["proto"] as? String == "TCP" }
        #expect(tcpEnds.count == 1)
        #expect(((tcpEnds.first?["flow"] as? [String: Any])?["pkts_toclient"] as? Int ?? 0) > 0)
        func carrier(_ match: [String: Any]) -> [String: Any] { match["carrier"] as? [String: Any] ?? [:] }
        func tunnel(_ match: [String: Any]) -> [String: Any] { (carrier(match)["tunnels"] as? [[String: Any]])?.first ?? [:] }
        let handshake = try #require(matches.first { $0["proto"] as? String == "TCP" })
        #expect(handshake["src_ip"] as? String == "10.20.0.1" && handshake["dest_ip"] as? String == "10.20.0.2" && handshake["dest_port"] as? Int == 6881)
        #expect(tunnel(handshake)["type"] as? String == "vxlan" && tunnel(handshake)["vni"] as? Int == 5001)
        #expect(tunnel(handshake)["src_ip"] as? String == NamespacePair.clientAddress && tunnel(handshake)["dest_ip"] as? String == NamespacePair.serverAddress)
        #expect(carrier(handshake)["reassembled"] == nil)
        let overlay = try #require(matches.first { $0["dest_ip"] as? String == "10.20.0.2" && $0["proto"] as? String == "UDP" })
        #expect((overlay["p2p"] as? [String: Any])?["message"] as? String == "dht.get_peers")
        #expect(tunnel(overlay)["type"] as? String == "vxlan" && carrier(overlay)["reassembled"] as? Bool == true)
        let underlay = try #require(matches.first { $0["dest_ip"] as? String == NamespacePair.serverAddress && $0["proto"] as? String == "UDP" })
        #expect(underlay["dest_port"] as? Int == 6882 && (underlay["p2p"] as? [String: Any])?["id"] as? String == Self.infoHash)
        let finished = try String(contentsOfFile: errors, encoding: .utf8)
        #expect(finished.contains("vxlan="), "\(finished)")
    }

    /// `peerwatch run` under a fake systemd: READY once capturing, watchdog pings, RELOADING then
    /// READY around SIGHUP, STOPPING on SIGTERM, in that order.
    @Test func runSpeaksTheSystemdNotifyProtocol() throws {
        let namespace = "pwn\(getpid() % 100_000)"
        _ = try CommandRunner.run(NamespacePair.ip, ["netns", "del", namespace], timeout: 20)
        #expect(try CommandRunner.run(NamespacePair.ip, ["netns", "add", namespace], timeout: 20).status == 0)
        defer { _ = try? CommandRunner.run(NamespacePair.ip, ["netns", "del", namespace], timeout: 20) }
        _ = try CommandRunner.run(NamespacePair.ip, ["-n", namespace, "link", "set", "lo", "up"], timeout: 20)
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("peerwatch-notify-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let socketPath = work.appendingPathComponent("notify.sock").path
        let listener = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (index, byte) in socketPath.utf8.enumerated() { raw[index] = byte } }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        try #require(bound == 0)
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(listener, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        func receive(seconds: Double, until: (String) -> Bool) -> [String] {
            var messages: [String] = []
            let deadline = Date().addingTimeInterval(seconds)
            var buffer = [UInt8](repeating: 0, count: 4_096)
            while Date() < deadline {
                let count = recv(listener, &buffer, buffer.count, 0)
                guard count > 0 else { continue }
                let message = String(decoding: buffer[0 ..< count], as: UTF8.self)
                messages.append(message)
                if until(message) { break }
            }
            return messages
        }
        let list = work.appendingPathComponent("list.txt").path
        try "btih:\(String(repeating: "ab", count: 20))\n".write(toFile: list, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: NamespacePair.ip)
        process.arguments = ["netns", "exec", namespace, CommandRunner.binary, "run", "--interface", "lo", "--watchlist", list,
                             "--log", work.appendingPathComponent("alerts.json").path, "--state-dir", work.path, "--metrics", "off"]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = socketPath
        environment["WATCHDOG_USEC"] = "400000"
        process.environment = environment
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        let startup = receive(seconds: 15) { $0.hasPrefix("WATCHDOG=1") }
        try #require(startup.first?.hasPrefix("READY=1\nSTATUS=capturing on lo: ") == true, "\(startup)")
        #expect(startup.last?.hasPrefix("WATCHDOG=1\nSTATUS=") == true, "\(startup)")
        kill(process.processIdentifier, SIGHUP)
        let reload = receive(seconds: 15) { $0.hasPrefix("READY=1") }.filter { !$0.hasPrefix("WATCHDOG=1") }
        #expect(reload.count == 2, "\(reload)")
        #expect(reload.first?.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") == true, "\(reload)")
        #expect(reload.last?.hasPrefix("READY=1\nSTATUS=") == true, "\(reload)")
        kill(process.processIdentifier, SIGTERM)
        let stopping = receive(seconds: 15) { $0 == "STOPPING=1" }.filter { !$0.hasPrefix("WATCHDOG=1") }
        #expect(stopping == ["STOPPING=1"])
        #expect(waitUntil(seconds: 15) { !process.isRunning })
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
    }

    /// The interface is deleted under a running capture and made again: peerwatch keeps going,
    /// logs the loss, retries, and alerts on traffic that crosses the new interface.
    @Test func runRidesOutAnInterfaceDeletedAndRecreated() throws {
        let pair = try NamespacePair()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("peerwatch-ifdown-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        defer { try? FileManager.default.removeItem(at: work) }
        let list = work.appendingPathComponent("list.txt").path
        let log = work.appendingPathComponent("alerts.json").path
        let errors = work.appendingPathComponent("peerwatch.err").path
        let ready = work.appendingPathComponent("server.ready").path
        try "btih:\(Self.infoHash) live test\n".write(toFile: list, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: errors, contents: nil)
        let errorHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errors))
        let monitor = try pair.start(in: pair.client, [CommandRunner.binary, "run", "--interface", pair.clientInterface, "--watchlist", list,
                                                       "--log", log, "--state-dir", work.path, "--metrics", "off",
                                                       // Reopening the capture as nobody needs the kept CAP_NET_RAW.
                                                       "--user", "nobody"], standardError: errorHandle)
        defer { if monitor.isRunning { monitor.terminate() } }
        func stderrText() -> String { (try? String(contentsOfFile: errors, encoding: .utf8)) ?? "" }
        try #require(waitUntil(seconds: 15) { stderrText().contains("capture started") }, "\(stderrText())")

        try pair.recreateLink(after: 2)
        #expect(monitor.isRunning, "peerwatch exited when its interface went away")
        try #require(waitUntil(seconds: 40) { stderrText().contains("capture restored") }, "\(stderrText())")
        #expect(stderrText().contains("capture lost; retrying"))

        try exchangeHandshake(across: pair, ready: ready)
        #expect(waitUntil(seconds: 15) { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("\"match\"") }, "no alert after the interface came back")
        stopCleanly(monitor)
        try errorHandle.close()
    }

    /// Started as root with `--user nobody`: the running process has nobody's ids everywhere,
    /// only CAP_NET_RAW and CAP_NET_ADMIN (also in the bounding set), none inheritable or
    /// ambient, no new privileges; it still captures and alerts, and its log belongs to nobody.
    @Test func runStartedAsRootBecomesTheConfiguredUser() throws {
        let nobody = try #require(getpwnam("nobody")?.pointee)
        let pair = try NamespacePair()
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("peerwatch-user-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        defer { try? FileManager.default.removeItem(at: work) }
        let list = work.appendingPathComponent("list.txt").path
        let log = work.appendingPathComponent("alerts.json").path
        let errors = work.appendingPathComponent("peerwatch.err").path
        let ready = work.appendingPathComponent("server.ready").path
        let socketPath = work.appendingPathComponent("alerts.sock").path
        let nobodyGroup = try #require(getgrgid(nobody.pw_gid)?.pointee.gr_name.map { String(cString: $0) })
        try "btih:\(Self.infoHash) live test\n".write(toFile: list, atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: errors, contents: nil)
        let errorHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errors))
        func stderrText() -> String { (try? String(contentsOfFile: errors, encoding: .utf8)) ?? "" }

        let monitor = try pair.start(in: pair.client, [CommandRunner.binary, "run", "--interface", pair.clientInterface, "--user", "nobody",
                                                       "--watchlist", list, "--log", log, "--state-dir", work.appendingPathComponent("state").path,
                                                       "--metrics", "off", "--sensor", "user-test",
                                                       "--socket", socketPath, "--socket-group", nobodyGroup], standardError: errorHandle)
        defer { if monitor.isRunning { monitor.terminate() } }
        try #require(waitUntil(seconds: 15) { stderrText().contains("capture started") }, "peerwatch did not start: \(stderrText())")
        #expect(stderrText().contains("privileges dropped"))

        let status = try String(contentsOfFile: "/proc/\(monitor.processIdentifier)/status", encoding: .utf8)
        var fields: [String: String] = [:]
        for line in status.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].split(whereSeparator: { $0 == "\t" || $0 == " " }).joined(separator: " ")
        }
        #expect(fields["Uid"] == Array(repeating: "\(nobody.pw_uid)", count: 4).joined(separator: " "))
        #expect(fields["Gid"] == Array(repeating: "\(nobody.pw_gid)", count: 4).joined(separator: " "))
        #expect(fields["Groups"] == "\(nobody.pw_gid)")
        #expect(fields["CapEff"] == "0000000000003000")
        #expect(fields["CapPrm"] == "0000000000003000")
        #expect(fields["CapBnd"] == "0000000000003000")
        #expect(fields["CapInh"] == "0000000000000000")
        #expect(fields["CapAmb"] == "0000000000000000")
        #expect(fields["NoNewPrivs"] == "1")

        // The socket was made after the drop: nobody owns it, in the group asked for.
        var socketStatus = stat()
        #expect(stat(socketPath, &socketStatus) == 0)
        #expect(socketStatus.st_uid == nobody.pw_uid && socketStatus.st_gid == nobody.pw_gid)
        try exchangeHandshake(across: pair, ready: ready)
        let alerted = waitUntil(seconds: 15) { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("\"match\"") }
        #expect(alerted, "no match in the log: \(stderrText())")

        stopCleanly(monitor)
        try errorHandle.close()
        // Every file PeerWatch made belongs to nobody: none was written as root.
        for path in [log, work.appendingPathComponent("state").path] where FileManager.default.fileExists(atPath: path) {
            let owner = try FileManager.default.attributesOfItem(atPath: path)[.ownerAccountID] as? NSNumber
            #expect(owner?.uint32Value == nobody.pw_uid, "\(path)")
        }
        #expect(FileManager.default.fileExists(atPath: log))
    }
}
