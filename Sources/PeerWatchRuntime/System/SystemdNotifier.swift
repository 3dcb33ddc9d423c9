import Foundation
import Synchronization

/// The systemd notification protocol, spoken directly (sd_notify(3)): datagrams to
/// `$NOTIFY_SOCKET` saying `READY=1`, `RELOADING=1`, `STOPPING=1`, `WATCHDOG=1` and `STATUS=...`.
/// Without `$NOTIFY_SOCKET` (not run by systemd) every call does nothing.
public final class SystemdNotifier: Sendable {
    private let address: String?
    /// How often to send `WATCHDOG=1`: half of `$WATCHDOG_USEC`, when the watchdog is ours.
    public let watchdogInterval: Duration?
    private let lastHeartbeat = Atomic<Int64>(0)
    // The timer is touched only under `timerLock`.
    nonisolated(unsafe) private var timer: DispatchSourceTimer?
    private let timerLock = Mutex(())

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`.
    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        address = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        if let usec = environment["WATCHDOG_USEC"].flatMap(Int64.init), usec > 0,
           environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true {
            watchdogInterval = .microseconds(usec / 2)
        } else {
            watchdogInterval = nil
        }
    }

    /// Whether systemd is listening.
    public var isEnabled: Bool { address != nil }

    /// Sends one message; returns whether it went out. The corresponding C function is `sendto`.
    @discardableResult
    public func send(_ message: String) -> Bool {
        guard let address else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var target = sockaddr_un()
        target.sun_family = sa_family_t(AF_UNIX)
        var path = Array(address.utf8)
        // An address starting with '@' is in the abstract namespace: a leading NUL byte.
        if path.first == UInt8(ascii: "@") { path[0] = 0 }
        let capacity = MemoryLayout.size(ofValue: target.sun_path)
        guard path.count < capacity else { return false }
        withUnsafeMutableBytes(of: &target.sun_path) { raw in
            for (index, byte) in path.enumerated() { raw[index] = byte }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count + (path.first == 0 ? 0 : 1))
        let bytes = Array(message.utf8)
        let sent = withUnsafePointer(to: &target) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sockaddr in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sockaddr, length) }
            }
        }
        return sent == bytes.count
    }

    /// Capture is open and the lists are loaded.
    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }

    /// A reload begins (`READY=1` follows when it is done).
    public func reloading() {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        send("RELOADING=1\nMONOTONIC_USEC=\(Int64(time.tv_sec) * 1_000_000 + Int64(time.tv_nsec) / 1_000)")
    }

    /// Shutting down.
    public func stopping() { send("STOPPING=1") }

    /// A free-form status line (`systemctl status` shows it).
    public func status(_ text: String) { send("STATUS=\(text)") }

    /// The capture thread calls this whenever it gets a packet or a read timeout: proof of life.
    public func heartbeat() {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        lastHeartbeat.store(Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec), ordering: .relaxed)
    }

    /// Sends `WATCHDOG=1` every `watchdogInterval` while the capture thread's heartbeat is no
    /// older than twice that: a stuck capture stops the pings, and systemd restarts the service.
    /// - Parameter status: a status line sent with each ping.
    public func startWatchdog(status: @escaping @Sendable () -> String) {
        guard let interval = watchdogInterval, isEnabled else { return }
        let nanoseconds = interval.components.seconds * 1_000_000_000 + interval.components.attoseconds / 1_000_000_000
        let source = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "peerwatch-watchdog"))
        source.schedule(deadline: .now(), repeating: .nanoseconds(Int(nanoseconds)))
        source.setEventHandler { [self] in
            var time = timespec()
            clock_gettime(CLOCK_MONOTONIC, &time)
            let now = Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
            guard now - lastHeartbeat.load(ordering: .relaxed) <= 2 * nanoseconds else { return }
            send("WATCHDOG=1\nSTATUS=\(status())")
        }
        source.resume()
        timerLock.withLock { _ in timer = source }
    }

    /// Stops the watchdog pings.
    public func stopWatchdog() {
        timerLock.withLock { _ in
            timer?.cancel()
            timer = nil
        }
    }
}
