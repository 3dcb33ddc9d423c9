import Foundation
import PeerWatchCore
import Synchronization

/// Where packets come from: capture files read in a row, or a live interface.
public enum PacketSource: Sendable {
    /// pcap or pcapng files, read one after another: regular files, FIFOs, pipes, or `-` for
    /// standard input.
    case files([String])
    /// A live capture.
    case live(LiveCaptureOptions)

    /// The interface name for alert records, or `nil` for files.
    public var interfaceName: String? {
        if case .live(let options) = self { return options.interface }
        return nil
    }
}

/// How a capture loop ended.
public enum CaptureEnd: Sendable, Equatable {
    /// Every file was read to its end.
    case endOfInput
    /// A stop was requested before the input ended (live capture always ends this way).
    case stopped
}

/// Reads packets from a source and hands each, borrowed, to a consumer on the calling thread.
///
/// `onTick` is called at least every `tickInterval` whether or not packets arrive (a quiet link
/// never starves housekeeping): a live handle is non-blocking and the loop waits on its
/// descriptor with `poll`, because libpcap's own read timeout cannot be relied on (with
/// immediate mode it never fires on Debian 12's libpcap 1.10.3).
struct CaptureLoop {
    let source: PacketSource
    let stop: StopSignal?

    /// The longest wait for packets before `onTick` runs.
    static let tickInterval: Int32 = 200

    /// Statistics of the live handle, read just before it closed.
    private(set) var finalStatistics: CaptureStatistics?

    init(source: PacketSource, stop: StopSignal?) {
        self.source = source
        self.stop = stop
    }

    private func shouldStop() -> Bool { stop?.isRequested ?? false }

    /// Opens every regular file first, so that a bad file is reported before anything is read.
    /// FIFOs, pipes and standard input are opened only once, when their turn comes.
    static func validate(files: [String]) throws(CaptureError) {
        for path in files where PcapHandle.isRegularFile(path) {
            _ = try PcapHandle.openFile(path).linkType(of: path)
        }
    }

    /// Runs until the source ends or a stop is requested.
    /// - Parameter onOpen: called once a capture is open (for readiness), with the handle's link name.
    @discardableResult
    mutating func run(
        onOpen: (String) -> Void = { _ in },
        onTick: () -> Void = {},
        onStatistics: (CaptureStatistics) -> Void = { _ in },
        onLost: (CaptureError, Duration) -> Void = { _, _ in },
        onRestored: () -> Void = {},
        consume: (UnsafeRawBufferPointer, Int, Timestamp, LinkType) -> Void
    ) throws(CaptureError) -> CaptureEnd {
        switch source {
        case .files(let paths):
            for path in paths {
                if shouldStop() { return .stopped }
                let input: CaptureInput
                do {
                    input = try CaptureInput.open(path, stop: stop)
                } catch {
                    // A stop while waiting for a pipe's first bytes ends its relay, and the open.
                    if shouldStop() { return .stopped }
                    throw error
                }
                let link = try input.handle.linkType(of: path)
                onOpen(input.handle.dataLinkName)
                var count = 0
                reading: while true {
                    if shouldStop() { return .stopped }
                    let next: NextPacket
                    do {
                        next = try input.handle.next()
                    } catch {
                        // A relay cut short by a stop request ends the stream mid-packet.
                        if shouldStop() { return .stopped }
                        throw error
                    }
                    switch next {
                    case .packet(let bytes, let wireLength, let timestamp):
                        consume(bytes, wireLength, timestamp, link)
                        count &+= 1
                        if count & 4_095 == 0 { onTick() }
                    case .timeout:
                        continue
                    case .endOfFile:
                        if input.wasCutShort { return .stopped }
                        break reading
                    }
                }
                onTick()
            }
            return .endOfInput
        case .live(let options):
            // The first open must succeed: a wrong interface name is a clear, fatal error. Later,
            // a capture that fails (interface down or gone) is reopened with backoff.
            var handle = try PcapHandle.openLive(options)
            _ = try handle.linkType(of: options.interface)
            onOpen(handle.dataLinkName)
            var backoff = Self.firstRetry
            while !shouldStop() {
                do {
                    try readLive(handle, onTick: onTick, onStatistics: onStatistics, consume: consume)
                    return .stopped
                } catch {
                    onLost(error, backoff)
                }
                // Closed now: a handle in a fanout group keeps the group bound to the interface
                // that went away, and the new handle could not join it.
                _ = consume handle
                // Reopen until it works or a stop is requested, waiting longer each time.
                var reopened: PcapHandle?
                while reopened == nil, !shouldStop() {
                    let deadline = ContinuousClock.now + backoff
                    while ContinuousClock.now < deadline, !shouldStop() {
                        onTick()
                        Thread.sleep(forTimeInterval: 0.1)
                    }
                    if shouldStop() { return .stopped }
                    do throws(CaptureError) {
                        let candidate = try PcapHandle.openLive(options)
                        _ = try candidate.linkType(of: options.interface)
                        reopened = .some(consume candidate)
                    } catch {
                        backoff = min(backoff * 2, Self.maxRetry)
                        onLost(error, backoff)
                    }
                }
                guard let candidate = reopened.take() else { return .stopped }
                handle = candidate
                backoff = Self.firstRetry
                onRestored()
            }
            return .stopped
        }
    }

    /// The first wait before reopening a lost capture, and the longest.
    static let firstRetry: Duration = .seconds(1)
    static let maxRetry: Duration = .seconds(30)

    /// Reads a live handle until a stop is requested (returns) or it fails (throws): waits on
    /// its descriptor for at most `tickInterval`, then takes every packet that is ready.
    private mutating func readLive(
        _ handle: borrowing PcapHandle, onTick: () -> Void,
        onStatistics: (CaptureStatistics) -> Void, consume: (UnsafeRawBufferPointer, Int, Timestamp, LinkType) -> Void
    ) throws(CaptureError) {
        guard let link = LinkType(dlt: handle.dataLinkType) else { return }
        defer { finalStatistics = handle.statistics() }
        let descriptor = handle.selectableDescriptor
        var lastStatistics = ContinuousClock.now
        func reportStatistics() {
            let now = ContinuousClock.now
            guard now - lastStatistics >= .seconds(1) else { return }
            lastStatistics = now
            if let statistics = handle.statistics() { onStatistics(statistics) }
        }
        while !shouldStop() {
            var waiter = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
            let ready = poll(&waiter, 1, Self.tickInterval)
            if ready < 0, errno != EINTR {
                throw CaptureError("\(handle.name): poll failed: \(String(cString: strerror(errno)))")
            }
            if waiter.revents & Int16(POLLERR | POLLNVAL) != 0 {
                // The interface went away: the next read says how.
                _ = try handle.next()
                throw CaptureError("\(handle.name): the capture descriptor reported an error")
            }
            // Take what is ready, a ring block at a time, housekeeping between wakes.
            var taken = 0
            while taken < Self.maxPacketsPerWake, !shouldStop() {
                let count = try handle.dispatch(limit: Self.packetsPerDispatch) { bytes, wireLength, timestamp in
                    consume(bytes, wireLength, timestamp, link)
                }
                guard count > 0 else { break }
                taken &+= count
            }
            onTick()
            reportStatistics()
        }
    }

    /// Packets taken after one wake before housekeeping gets its turn.
    static let maxPacketsPerWake = 65_536
    /// Packets one `pcap_dispatch` hands over at most.
    static let packetsPerDispatch: Int32 = 4_096
}

/// A capture file, FIFO, pipe or standard input, opened once.
///
/// A regular file is opened by libpcap directly. Anything else is read by a relay thread that
/// copies it into a pipe libpcap reads, and that watches for a stop request: libpcap blocks in
/// `fread` on a quiet pipe, deaf to signals, and closing the relay's end is what wakes it.
final class CaptureInput {
    let handle: PcapHandle
    /// The relay of a FIFO, pipe or standard input; `nil` for a regular file.
    let relay: PipeRelay?

    /// Whether a stop request cut the stream before its writer ended it.
    var wasCutShort: Bool { relay?.wasCutShort ?? false }

    private init(handle: consuming PcapHandle, relay: PipeRelay?) {
        self.handle = handle
        self.relay = relay
    }

    deinit { relay?.finish() }

    static func open(_ path: String, stop: StopSignal?) throws(CaptureError) -> CaptureInput {
        if path != "-", PcapHandle.isRegularFile(path) {
            return CaptureInput(handle: try PcapHandle.openFile(path), relay: nil)
        }
        let source: Int32
        if path == "-" {
            source = dup(STDIN_FILENO)
        } else {
            // O_NONBLOCK so that opening a FIFO nobody writes yet does not hang; reads then wait
            // in poll, where a stop request is seen.
            source = Foundation.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        }
        guard source >= 0 else { throw CaptureError("\(path): cannot open: \(String(cString: strerror(errno)))") }
        let relay = try PipeRelay(source: source, name: path, stop: stop)
        let handle = try PcapHandle.openStream(descriptor: relay.readDescriptor, name: path == "-" ? "standard input" : path)
        return CaptureInput(handle: handle, relay: relay)
    }
}

/// Copies a descriptor into a pipe on its own thread until the source ends or a stop is
/// requested, then closes the pipe's write end.
final class PipeRelay: Sendable {
    /// The pipe's read end, handed to libpcap (which closes it).
    let readDescriptor: Int32
    private let writeDescriptor: Int32
    private let source: Int32
    private let name: String
    private let stop: StopSignal?
    private let finished = DispatchSemaphore(value: 0)
    private let cutShort = Atomic<Bool>(false)
    private let cancelled = Atomic<Bool>(false)

    /// Whether a stop request cut the stream short.
    var wasCutShort: Bool { cutShort.load(ordering: .acquiring) }

    init(source: Int32, name: String, stop: StopSignal?) throws(CaptureError) {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else {
            close(source)
            throw CaptureError("\(name): cannot make a pipe: \(String(cString: strerror(errno)))")
        }
        readDescriptor = ends[0]
        writeDescriptor = ends[1]
        self.source = source
        self.name = name
        self.stop = stop
        _ = fcntl(source, F_SETFL, fcntl(source, F_GETFL) | O_NONBLOCK)
        _ = fcntl(writeDescriptor, F_SETFL, fcntl(writeDescriptor, F_GETFL) | O_NONBLOCK)
        _ = fcntl(readDescriptor, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeDescriptor, F_SETFD, FD_CLOEXEC)
        let thread = Thread { [self] in self.pump() }
        thread.name = "peerwatch-input"
        thread.start()
    }

    /// Ends the relay thread (the reader is done with the pipe) and waits for it.
    func finish() {
        cancelled.store(true, ordering: .releasing)
        finished.wait()
    }

    private func stopping() -> Bool { stop?.isRequested ?? false }

    private func pump() {
        defer {
            close(writeDescriptor)
            close(source)
            finished.signal()
        }
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        // A FIFO opened before its writer: EOF until someone opens it for writing.
        var sawWriter = false
        while !cancelled.load(ordering: .acquiring) {
            if stopping() {
                cutShort.store(true, ordering: .releasing)
                return
            }
            var waiter = pollfd(fd: source, events: Int16(POLLIN), revents: 0)
            let ready = poll(&waiter, 1, 200)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if ready == 0 { continue }
            let count = buffer.withUnsafeMutableBytes { read(source, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return
            }
            if count == 0 {
                // POLLHUP before any writer came: a FIFO not yet opened by its writer.
                if !sawWriter, waiter.revents & Int16(POLLHUP) != 0 {
                    Thread.sleep(forTimeInterval: 0.05)
                    continue
                }
                return
            }
            sawWriter = true
            var offset = 0
            while offset < count {
                if cancelled.load(ordering: .acquiring) { return }
                if stopping() {
                    cutShort.store(true, ordering: .releasing)
                    return
                }
                var out = pollfd(fd: writeDescriptor, events: Int16(POLLOUT), revents: 0)
                guard poll(&out, 1, 200) >= 0 || errno == EINTR else { return }
                if out.revents & Int16(POLLERR | POLLHUP) != 0 { return }
                guard out.revents & Int16(POLLOUT) != 0 else { continue }
                let written = buffer[offset ..< count].withUnsafeBytes { write(writeDescriptor, $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    return
                }
                offset += written
            }
        }
    }
}
