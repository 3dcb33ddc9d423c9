import Foundation
import Testing

/// A network namespace with only its loopback up, made by a test and removed after it: a
/// `peerwatch run` inside captures on `lo`, where only the test's own peers talk.
final class LoopbackNamespace {
    let name: String

    init(tag: String) throws {
        name = "pw\(tag)\(getpid() % 100_000)"
        _ = try CommandRunner.run(NamespacePair.ip, ["netns", "del", name], timeout: 20)
        let added = try CommandRunner.run(NamespacePair.ip, ["netns", "add", name], timeout: 20)
        guard added.status == 0 else { throw NamespacePair.SetupError(message: "ip netns add \(name): \(added.standardError)") }
        _ = try CommandRunner.run(NamespacePair.ip, ["-n", name, "link", "set", "lo", "up"], timeout: 20)
    }

    deinit { _ = try? CommandRunner.run(NamespacePair.ip, ["netns", "del", name], timeout: 20) }

    /// Runs a command inside the namespace to completion.
    func run(_ arguments: [String], timeout: TimeInterval = 30) throws -> CommandRunner.Output {
        try CommandRunner.run(NamespacePair.ip, ["netns", "exec", name] + arguments, timeout: timeout)
    }

    /// A BEP 3 handshake for `infoHash` from a client to a server on 127.0.0.1:`port`, answered.
    func exchangeHandshake(infoHash: String, port: Int = 6881) throws {
        let server = """
            import socket, sys
            s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", \(port))); s.listen(1); s.settimeout(20)
            print("listening", flush=True)
            c, _ = s.accept(); c.settimeout(10)
            data = b""
            while len(data) < 68:
                chunk = c.recv(68 - len(data))
                if not chunk: break
                data += chunk
            c.sendall(data[:48] + b"-qB4630-" + b"s" * 12); c.close()
            """
        let client = """
            import socket, time
            h = bytes([19]) + b"BitTorrent protocol" + bytes(8) + bytes.fromhex("\(infoHash)") + b"-TR3000-" + b"c" * 12
            for attempt in range(100):
                try:
                    s = socket.create_connection(("127.0.0.1", \(port)), timeout=10); break
                except ConnectionRefusedError:
                    time.sleep(0.05)
            s.sendall(h); s.recv(68); s.close()
            """
        let serverProcess = Process()
        serverProcess.executableURL = URL(fileURLWithPath: NamespacePair.ip)
        serverProcess.arguments = ["netns", "exec", name, "/usr/bin/python3", "-c", server]
        serverProcess.standardOutput = FileHandle.nullDevice
        serverProcess.standardError = FileHandle.nullDevice
        try serverProcess.run()
        defer { if serverProcess.isRunning { serverProcess.terminate() } }
        let result = try run(["/usr/bin/python3", "-c", client])
        #expect(result.status == 0, "\(result.standardError)")
        _ = waitUntil(seconds: 10) { !serverProcess.isRunning }
    }
}

/// A `peerwatch run` started by a test (inside a namespace), with its standard error in a file.
final class Daemon {
    let process = Process()
    let work: URL
    let errors: String
    private let errorHandle: FileHandle

    /// Starts `peerwatch run ARGUMENTS` in `namespace`, optionally under a descriptor limit.
    init(in namespace: LoopbackNamespace, work: URL, arguments: [String], environment: [String: String] = [:], descriptorLimit: Int? = nil) throws {
        self.work = work
        errors = work.appendingPathComponent("peerwatch.err").path
        _ = FileManager.default.createFile(atPath: errors, contents: nil)
        errorHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: errors))
        var command = ["netns", "exec", namespace.name]
        if let descriptorLimit { command += ["/usr/bin/prlimit", "--nofile=\(descriptorLimit):\(descriptorLimit)", "--"] }
        command += [CommandRunner.binary, "run"] + arguments
        process.executableURL = URL(fileURLWithPath: NamespacePair.ip)
        process.arguments = command
        process.currentDirectoryURL = CommandRunner.packageRoot
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        process.environment = merged
        process.standardError = errorHandle
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? errorHandle.close()
    }

    /// Its diagnostics so far.
    var standardError: String { (try? String(contentsOfFile: errors, encoding: .utf8)) ?? "" }

    /// The process id of peerwatch itself (`ip netns exec` and `prlimit` exec it in place).
    var pid: Int32 { process.processIdentifier }

    /// Waits for "capture started".
    func waitUntilCapturing() throws {
        try #require(waitUntil(seconds: 20) { standardError.contains("capture started") }, "peerwatch did not start: \(standardError)")
    }

    /// Open descriptors and threads of the running process.
    var descriptors: Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1 }
    var threads: Int { (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").count) ?? -1 }

    /// Sends SIGTERM and expects a clean exit within 15 s.
    func stop() {
        kill(pid, SIGTERM)
        let stopped = waitUntil(seconds: 15) { !process.isRunning }
        #expect(stopped, "peerwatch did not stop on SIGTERM")
        if !stopped { kill(pid, SIGKILL) }
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(standardError)")
    }
}

/// A datagram socket standing in for systemd's notification socket.
final class NotifyListener {
    let path: String
    private let descriptor: Int32

    init(in directory: URL) throws {
        path = directory.appendingPathComponent("notify.sock").path
        descriptor = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        try #require(descriptor >= 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (index, byte) in path.utf8.enumerated() { raw[index] = byte } }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        try #require(bound == 0)
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(descriptor) }

    /// Messages received within `seconds`, each with when it came, stopping early once `until` holds.
    func receive(seconds: Double, until: (String) -> Bool = { _ in false }) -> [(at: Date, message: String)] {
        var messages: [(Date, String)] = []
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4_096)
        while Date() < deadline {
            let count = recv(descriptor, &buffer, buffer.count, 0)
            guard count > 0 else { continue }
            let message = String(decoding: buffer[0 ..< count], as: UTF8.self)
            messages.append((Date(), message))
            if until(message) { break }
        }
        return messages
    }
}

/// A client of the alert socket.
final class SocketReader {
    let descriptor: Int32

    init?(path: String) {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (index, byte) in path.utf8.enumerated() { raw[index] = byte } }
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Lines read within `seconds`, stopping once `until` holds for them.
    func lines(seconds: Double, until: ([String]) -> Bool) -> [String] {
        var lines: [String] = []
        var pending = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let got = read(descriptor, &buffer, buffer.count)
            if got == 0 { break }
            if got < 0 { continue }
            pending += buffer[0 ..< got]
            while let newline = pending.firstIndex(of: 0x0A) {
                lines.append(String(decoding: pending[..<newline], as: UTF8.self))
                pending.removeSubrange(...newline)
            }
            if until(lines) { break }
        }
        return lines
    }
}

/// A scratch directory for one test, world-writable so that a daemon that gave up root can
/// write in it, removed afterwards.
func scratchDirectory(_ tag: String) throws -> URL {
    let work = FileManager.default.temporaryDirectory.appendingPathComponent("peerwatch-\(tag)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
    return work
}
