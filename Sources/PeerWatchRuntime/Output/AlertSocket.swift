import Foundation
import Logging
import Synchronization

/// The alert socket: a Unix stream socket that sends every record, as a JSON line, to every
/// connected reader.
///
/// Each reader has its own bounded queue and writer thread. Publishing appends to the queues
/// under a short lock and never waits: a reader that stalls loses lines once its queue is full,
/// and when it catches up it is first sent `{"event_type":"dropped","count":N,...}`. Other
/// readers, and capture, never notice.
public final class AlertSocket: Sendable {
    /// Lines queued per reader: minutes of alerts at any realistic rate.
    public static let queueCapacity = 4_096

    final class Reader: Sendable {
        let descriptor: Int32
        struct State {
            var queue: [[UInt8]] = []
            var dropped = 0
            var closed = false
            /// Set, under the lock, when the writer thread closes the descriptor: after that
            /// its number may belong to another file and must not be shut down.
            var descriptorClosed = false
        }
        let state = Mutex(State())
        let ready = DispatchSemaphore(value: 0)
        init(descriptor: Int32) { self.descriptor = descriptor }
    }

    /// The socket's path.
    public let path: String
    private let listener: Int32
    private let readers = Mutex<[Reader]>([])
    private let stopped = Atomic<Bool>(false)
    private let totalDropped = Atomic<Int>(0)
    private let logger: Logger

    /// Creates the socket at `path` with `mode` and, if given, `group`.
    /// A socket file left by a crashed daemon is removed; a live one is refused.
    /// - Throws: `CaptureError` naming the path and what is wrong.
    public init(path: String, mode: mode_t = 0o660, group: String? = nil, logger: Logger) throws(CaptureError) {
        self.path = path
        self.logger = logger
        var status = stat()
        if lstat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFSOCK else { throw CaptureError("\(path): exists and is not a socket; refusing to replace it") }
            if Self.someoneListens(path) { throw CaptureError("\(path): another process is serving alerts on this socket") }
            unlink(path)
            logger.notice("removed a stale alert socket", metadata: ["socket.path": "\(path)"])
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw CaptureError("\(path): cannot create a socket: \(String(cString: strerror(errno)))") }
        guard var address = Self.address(path) else {
            Foundation.close(fd)
            throw CaptureError("\(path): path too long for a Unix socket")
        }
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard bound == 0, listen(fd, 64) == 0 else {
            let reason = String(cString: strerror(errno))
            Foundation.close(fd)
            throw CaptureError("\(path): cannot listen: \(reason)")
        }
        guard chmod(path, mode) == 0 else {
            Foundation.close(fd)
            throw CaptureError("\(path): cannot set mode \(String(mode, radix: 8)): \(String(cString: strerror(errno)))")
        }
        if let group {
            guard let entry = getgrnam(group) else {
                Foundation.close(fd)
                throw CaptureError("\(path): no group named \(group)")
            }
            guard chown(path, uid_t.max, entry.pointee.gr_gid) == 0 else {
                Foundation.close(fd)
                throw CaptureError("\(path): cannot give the socket to group \(group): \(String(cString: strerror(errno)))")
            }
        }
        listener = fd
        let thread = Thread { [self] in self.acceptLoop() }
        thread.name = "peerwatch-socket"
        thread.start()
    }

    /// How many readers are connected.
    public var readerCount: Int { readers.withLock { $0.count } }

    /// Lines all readers lost because they fell behind.
    public var droppedLines: Int { totalDropped.load(ordering: .relaxed) }

    /// Queues one line (with its newline) for every reader; never blocks.
    public func publish(_ line: [UInt8]) {
        let current = readers.withLock { $0 }
        for reader in current {
            let queued = reader.state.withLock { state -> Bool in
                guard !state.closed else { return false }
                if state.queue.count >= Self.queueCapacity {
                    state.dropped += 1
                    return false
                }
                state.queue.append(line)
                return true
            }
            if queued { reader.ready.signal() } else { totalDropped.add(1, ordering: .relaxed) }
        }
    }

    /// Closes the socket and every reader, and removes the file.
    public func close() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        Foundation.close(listener)
        unlink(path)
        for reader in readers.withLock({ $0 }) { finish(reader) }
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .relaxed) {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            let reader = Reader(descriptor: client)
            // close() sets `stopped` before it takes the readers: a reader accepted meanwhile is
            // either in its list or refused here, never left running.
            let added = readers.withLock { readers -> Bool in
                guard !stopped.load(ordering: .relaxed) else { return false }
                readers.append(reader)
                return true
            }
            guard added else {
                Foundation.close(client)
                return
            }
            logger.info("alert reader connected", metadata: ["socket.readers": "\(readerCount)"])
            let thread = Thread { [self] in self.write(to: reader) }
            thread.name = "peerwatch-socket-reader"
            thread.start()
        }
    }

    private func write(to reader: Reader) {
        defer {
            readers.withLock { $0.removeAll { $0 === reader } }
            reader.state.withLock { state in
                state.descriptorClosed = true
                Foundation.close(reader.descriptor)
            }
            logger.info("alert reader left", metadata: ["socket.readers": "\(readerCount)"])
        }
        while true {
            reader.ready.wait()
            let (lines, dropped, closed) = reader.state.withLock { state -> ([[UInt8]], Int, Bool) in
                let lines = state.queue
                state.queue.removeAll(keepingCapacity: true)
                let dropped = state.dropped
                state.dropped = 0
                return (lines, dropped, state.closed)
            }
            if closed { return }
            if dropped > 0 {
                let notice = "{\"event_type\":\"dropped\",\"count\":\(dropped),\"reason\":\"reader too slow; queue of \(Self.queueCapacity) full\"}\n"
                guard send(Array(notice.utf8), on: reader.descriptor) else { return }
            }
            for line in lines {
                guard send(line, on: reader.descriptor) else { return }
            }
        }
    }

    private func finish(_ reader: Reader) {
        // Shut down (to wake a writer blocked on a stalled reader) only while the descriptor is
        // still this reader's.
        reader.state.withLock { state in
            state.closed = true
            if !state.descriptorClosed { shutdown(reader.descriptor, Int32(SHUT_RDWR)) }
        }
        reader.ready.signal()
    }

    private func send(_ bytes: [UInt8], on descriptor: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Foundation.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0, errno == EINTR { continue }
            if sent <= 0 { return false }
            offset += sent
        }
        return true
    }

    static func address(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (index, byte) in bytes.enumerated() { raw[index] = byte } }
        return address
    }

    /// Whether a process accepts connections on the socket at `path`.
    static func someoneListens(_ path: String) -> Bool {
        guard var address = address(path) else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { Foundation.close(fd) }
        return withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } } == 0
    }
}
