import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// The alert socket: a Unix stream socket that sends every record, as a JSON line, to every
/// connected reader.
///
/// Readers live on one SwiftNIO event loop, with no thread of their own: a reader that goes
/// away is closed and forgotten at once (its descriptor freed), however many come and go.
/// Publishing hands the line to the event loop and never waits. Each reader has a bounded
/// queue on top of the socket's buffer: a reader that stalls loses lines once it is full, and
/// when it catches up it is first sent `{"event_type":"dropped","count":N,...}`. Other readers,
/// and capture, never notice. Beyond `maxReaders` a reader is told so and closed. `accept`
/// failures (out of descriptors) back off and retry; they never end the listener.
public final class AlertSocket: Sendable {
    /// Lines queued per reader beyond what its socket buffer holds: minutes of alerts at any
    /// realistic rate.
    public static let queueCapacity = 4_096
    /// Readers served at once by default; more are refused with a message.
    public static let defaultMaxReaders = 256

    /// The socket's path.
    public let path: String
    /// The most readers served at once.
    public let maxReaders: Int
    private let channel: any Channel
    private let loop: any EventLoop
    private let registry: Registry
    private let stopped = Atomic<Bool>(false)
    private let logger: Logger

    /// Creates the socket at `path` with `mode` and, if given, `group`, served on `group`'s loops.
    /// A socket file left by a crashed daemon is removed; a live one is refused.
    /// - Throws: `CaptureError` naming the path and what is wrong.
    public init(
        path: String, mode: mode_t = 0o660, group: String? = nil, maxReaders: Int = AlertSocket.defaultMaxReaders,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger
    ) throws(CaptureError) {
        self.path = path
        self.logger = logger
        // Readers may take at most half the descriptors the process may open, so that a crowd
        // of them never starves the log, the capture or the state files.
        var limit = rlimit()
        let allowed = getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur < rlim_t(Int32.max) ? max(8, Int(limit.rlim_cur) / 2) : Int.max
        self.maxReaders = max(1, min(maxReaders, allowed))
        if self.maxReaders < maxReaders {
            logger.notice("alert socket readers capped at half the descriptor limit", metadata: [
                "socket.max_readers": "\(self.maxReaders)", "limit.nofile": "\(limit.rlim_cur)",
            ])
        }
        var status = stat()
        if lstat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFSOCK else { throw CaptureError("\(path): exists and is not a socket; refusing to replace it") }
            if Self.someoneListens(path) { throw CaptureError("\(path): another process is serving alerts on this socket") }
            unlink(path)
            logger.notice("removed a stale alert socket", metadata: ["socket.path": "\(path)"])
        }
        var groupID: gid_t?
        if let group {
            guard let entry = getgrnam(group) else { throw CaptureError("\(path): no group named \(group)") }
            groupID = entry.pointee.gr_gid
        }
        let loop = eventLoopGroup.next()
        let registry = Registry(maxReaders: self.maxReaders, logger: logger)
        self.loop = loop
        self.registry = registry
        let bootstrap = ServerBootstrap(group: loop)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelInitializer { channel in
                // EMFILE and friends: stop accepting for a second, then go on.
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(AcceptBackoffHandler()) }
            }
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try registry.admit(channel) }
            }
        do {
            channel = try bootstrap.bind(unixDomainSocketPath: path).wait()
        } catch {
            throw CaptureError("\(path): cannot listen: \(error)")
        }
        guard chmod(path, mode) == 0 else {
            let reason = String(cString: strerror(errno))
            try? channel.close().wait()
            throw CaptureError("\(path): cannot set mode \(String(mode, radix: 8)): \(reason)")
        }
        if let groupID, chown(path, uid_t.max, groupID) != 0 {
            let reason = String(cString: strerror(errno))
            try? channel.close().wait()
            throw CaptureError("\(path): cannot give the socket to group \(group ?? ""): \(reason)")
        }
    }

    /// How many readers are connected.
    public var readerCount: Int { registry.count.load(ordering: .relaxed) }

    /// Lines all readers lost because they fell behind.
    public var droppedLines: Int { registry.dropped.load(ordering: .relaxed) }

    /// Readers refused because `maxReaders` were connected.
    public var refusedReaders: Int { registry.refused.load(ordering: .relaxed) }

    /// Queues one line (with its newline) for every reader; never blocks.
    public func publish(_ line: [UInt8]) {
        guard !stopped.load(ordering: .relaxed) else { return }
        let registry = registry
        loop.execute { registry.publish(line) }
    }

    /// Closes the socket and every reader, and removes the file.
    public func close() {
        guard !stopped.exchange(true, ordering: .relaxed) else { return }
        try? channel.close().wait()
        let registry = registry
        try? loop.submit { registry.closeAll() }.wait()
        unlink(path)
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

    /// The readers, touched only on the event loop (counters are atomics for other threads).
    final class Registry: @unchecked Sendable {
        // `readers` is read and written only on the socket's event loop.
        private var readers: [ObjectIdentifier: ReaderHandler] = [:]
        let count = Atomic<Int>(0)
        let dropped = Atomic<Int>(0)
        let refused = Atomic<Int>(0)
        let maxReaders: Int
        let logger: Logger

        init(maxReaders: Int, logger: Logger) {
            self.maxReaders = maxReaders
            self.logger = logger
        }

        /// A new connection: served, or told the socket is full and closed.
        func admit(_ channel: any Channel) throws {
            guard readers.count < maxReaders else {
                refused.add(1, ordering: .relaxed)
                let notice = #"{"event_type":"refused","reason":"too many readers: \#(maxReaders) are connected"}"# + "\n"
                channel.writeAndFlush(ByteBuffer(string: notice)).whenComplete { _ in channel.close(promise: nil) }
                logger.warning("alert reader refused: too many readers", metadata: ["socket.readers": "\(readers.count)", "socket.max_readers": "\(maxReaders)"])
                return
            }
            let handler = ReaderHandler(registry: self)
            try channel.pipeline.syncOperations.addHandler(handler)
            readers[ObjectIdentifier(handler)] = handler
            count.store(readers.count, ordering: .relaxed)
        }

        func remove(_ handler: ReaderHandler) {
            readers[ObjectIdentifier(handler)] = nil
            count.store(readers.count, ordering: .relaxed)
        }

        func publish(_ line: [UInt8]) {
            guard !readers.isEmpty else { return }
            let buffer = ByteBuffer(bytes: line)
            for reader in readers.values { reader.enqueue(buffer) }
        }

        func closeAll() {
            for reader in readers.values { reader.close() }
            readers.removeAll()
            count.store(0, ordering: .relaxed)
        }
    }

    /// One reader: writes while its socket takes bytes, queues a bounded number of lines while
    /// it does not, and counts what it had to drop.
    final class ReaderHandler: ChannelInboundHandler, @unchecked Sendable {
        // Every member is used on the reader's event loop only.
        typealias InboundIn = ByteBuffer
        private weak var registry: Registry?
        private var context: ChannelHandlerContext?
        private var queue: CircularBuffer<ByteBuffer> = CircularBuffer(initialCapacity: 16)
        private var droppedHere = 0

        init(registry: Registry) { self.registry = registry }

        func handlerAdded(context: ChannelHandlerContext) { self.context = context }

        func channelInactive(context: ChannelHandlerContext) {
            registry?.remove(self)
            queue.removeAll()
            self.context = nil
            context.fireChannelInactive()
        }

        /// Readers send nothing that matters; whatever comes is discarded.
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {}

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }

        func channelWritabilityChanged(context: ChannelHandlerContext) {
            if context.channel.isWritable { drain() }
            context.fireChannelWritabilityChanged()
        }

        func enqueue(_ line: ByteBuffer) {
            guard let context else { return }
            if queue.isEmpty, droppedHere == 0, context.channel.isWritable {
                context.writeAndFlush(NIOAny(line), promise: nil)
                return
            }
            if queue.count >= AlertSocket.queueCapacity {
                droppedHere += 1
                registry?.dropped.add(1, ordering: .relaxed)
            } else {
                queue.append(line)
            }
            drain()
        }

        /// Writes the dropped notice, then queued lines, while the socket takes them.
        private func drain() {
            guard let context else { return }
            var wrote = false
            if droppedHere > 0, context.channel.isWritable {
                let notice = #"{"event_type":"dropped","count":\#(droppedHere),"reason":"reader too slow; queue of \#(AlertSocket.queueCapacity) full"}"# + "\n"
                context.write(NIOAny(ByteBuffer(string: notice)), promise: nil)
                droppedHere = 0
                wrote = true
            }
            while context.channel.isWritable, let line = queue.popFirst() {
                context.write(NIOAny(line), promise: nil)
                wrote = true
            }
            if wrote { context.flush() }
        }

        func close() {
            context?.close(promise: nil)
        }
    }
}
