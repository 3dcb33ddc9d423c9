import Foundation
import Logging
import PeerWatchCore
import Synchronization

/// The output thread: takes events from the capture side through a bounded queue, encodes and
/// chains them, and writes them to the log file and, for `read`, standard output.
///
/// The capture side never blocks on output when `policy` is `.dropWhenFull` (live capture): a
/// full queue counts the events it could not take. Offline reading uses `.waitWhenFull`, so a
/// file's every alert is written.
public final class AlertOutput: Sendable {
    /// What to do when the queue is full.
    public enum Policy: Sendable {
        /// Count and drop (live capture must not stall).
        case dropWhenFull
        /// Wait for room (offline reading must not lose records).
        case waitWhenFull
    }

    /// The global guard on alert volume: at most `perSecond` records a second on average,
    /// bursts of up to `burst`. Records over it are not written but counted, and a chained
    /// `suppressed` record says how many and when, so a flood of matches cannot fill the disk
    /// and nothing disappears unreported.
    public struct VolumeLimit: Sendable, Equatable {
        public var perSecond: Int
        public var burst: Int
        public init(perSecond: Int, burst: Int) {
            self.perSecond = max(1, perSecond)
            self.burst = max(1, burst)
        }
    }

    /// Events queued at most; alerts are rare, so this absorbs any burst a real link makes.
    public static let queueCapacity = 65_536

    private struct State {
        var queue: [DetectionEvent] = []
        var closed = false
        var dropped = 0
        var written = 0
        var failure: String?
        var reopenRequested = false
    }

    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    private let room = DispatchSemaphore(value: 0)
    private let finished = DispatchSemaphore(value: 0)
    private let policy: Policy
    private let logger: Logger
    private let metrics: PeerWatchMetrics?
    private let socket: AlertSocket?
    private let limit: VolumeLimit?

    /// Starts the output thread.
    /// - Parameters:
    ///   - logPath: the alert log to append to, or `nil`.
    ///   - writeToStandardOutput: whether records also go to standard output.
    public init(
        sensor: SensorIdentity, logPath: String?, writeToStandardOutput: Bool, policy: Policy, metrics: PeerWatchMetrics? = nil,
        socket: AlertSocket? = nil, limit: VolumeLimit? = nil, logger: Logger
    ) throws(CaptureError) {
        self.policy = policy
        self.logger = logger
        self.metrics = metrics
        self.socket = socket
        self.limit = limit
        var chain = ChainState.genesis
        var file: AlertLogFile?
        if let logPath {
            chain = try AlertLogFile.chainState(continuing: logPath)
            file = try AlertLogFile(path: logPath)
        }
        let encoder = AlertEncoder(sensor: sensor, chain: chain)
        let sinks = OutputSinks(file: file, standardOutput: writeToStandardOutput)
        let thread = Thread { [self] in self.drain(encoder: encoder, sinks: sinks) }
        thread.name = "peerwatch-output"
        thread.start()
    }

    /// Queues events for writing; never blocks under `.dropWhenFull`.
    public func submit(_ events: [DetectionEvent]) {
        var pending = events[...]
        while !pending.isEmpty {
            let accepted = state.withLock { state -> Int in
                let room = max(0, Self.queueCapacity - state.queue.count)
                let take = min(room, pending.count)
                state.queue.append(contentsOf: pending.prefix(take))
                if take < pending.count, policy == .dropWhenFull {
                    state.dropped += pending.count - take
                    return pending.count
                }
                return take
            }
            if accepted > 0 { wake.signal() }
            pending = pending.dropFirst(accepted)
            if !pending.isEmpty { room.wait() }
        }
    }

    /// Asks the output thread to reopen the log file before its next write (log rotation).
    public func reopenLog() {
        state.withLock { $0.reopenRequested = true }
        wake.signal()
    }

    /// Events dropped because the queue was full.
    public var droppedCount: Int { state.withLock { $0.dropped } }

    /// Records written (guard reports excluded).
    public var writtenCount: Int { state.withLock { $0.written } }

    /// Writes everything queued, stops the thread and reports a write failure if one occurred.
    public func close() throws(CaptureError) {
        state.withLock { $0.closed = true }
        wake.signal()
        finished.wait()
        if let failure = state.withLock({ $0.failure }) { throw CaptureError(failure) }
    }

    private func drain(encoder: AlertEncoder, sinks: OutputSinks) {
        var encoder = encoder
        var tokens = Double(limit?.burst ?? 0)
        var refilled = ContinuousClock.now
        var held = (count: 0, first: Timestamp(microseconds: 0), last: Timestamp(microseconds: 0))
        var lastReport = ContinuousClock.now
        func admit() -> Bool {
            guard let limit else { return true }
            let now = ContinuousClock.now
            let elapsed = now - refilled
            refilled = now
            tokens = min(Double(limit.burst), tokens + (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18) * Double(limit.perSecond))
            guard tokens >= 1 else { return false }
            tokens -= 1
            return true
        }
        func time(of event: DetectionEvent) -> Timestamp {
            switch event {
            case .match(let alert): alert.timestamp
            case .flowEnd(let summary): summary.end
            }
        }
        func reportHeld(force: Bool) -> [UInt8] {
            guard held.count > 0, let limit, force || ContinuousClock.now - lastReport >= .seconds(1) else { return [] }
            lastReport = ContinuousClock.now
            let line = encoder.encodeSuppressed(count: held.count, first: held.first, last: held.last, limit: limit.perSecond)
            logger.warning("alert volume over the limit; records held back and counted", metadata: [
                "alerts.suppressed": "\(held.count)", "alerts.limit_per_second": "\(limit.perSecond)",
            ])
            metrics?.alertsSuppressed(held.count)
            held.count = 0
            socket?.publish(line)
            return line
        }
        var writtenMatches: [(proto: P2PProtocol, kind: ContentID.Kind)] = []
        while true {
            // Records held back are reported within about a second even when no more come.
            if held.count > 0 { _ = wake.wait(timeout: .now() + .seconds(1)) } else { wake.wait() }
            let (batch, closed, reopen) = state.withLock { state -> ([DetectionEvent], Bool, Bool) in
                let batch = state.queue
                state.queue.removeAll(keepingCapacity: true)
                defer { state.reopenRequested = false }
                return (batch, state.closed, state.reopenRequested)
            }
            if reopen {
                // Records already taken are written to the reopened file: none is lost.
                do {
                    try sinks.file?.reopen()
                    logger.info("alert log reopened", metadata: ["log.file": "\(sinks.file?.path ?? "-")"])
                } catch {
                    logger.error("alert log reopen failed; writing on to the old file", metadata: ["error": "\(error)"])
                }
            }
            if !batch.isEmpty { room.signal() }
            var output = [UInt8]()
            var written = 0
            writtenMatches.removeAll(keepingCapacity: true)
            for event in batch {
                guard admit() else {
                    if held.count == 0 { held.first = time(of: event) }
                    held.count += 1
                    held.last = time(of: event)
                    continue
                }
                let line = encoder.encode(event)
                output += line
                written += 1
                if case .match(let alert) = event { writtenMatches.append((alert.observation.proto, alert.hit.entry.id.kind)) }
                socket?.publish(line)
            }
            output += reportHeld(force: closed)
            if !output.isEmpty {
                do {
                    try sinks.write(output)
                    state.withLock { $0.written += written }
                    // Only what was written counts as an alert; held-back records are counted apart.
                    for match in writtenMatches { metrics?.alertWritten(proto: match.proto, kind: match.kind) }
                } catch {
                    logger.error("alert output failed", metadata: ["error": "\(error)"])
                    state.withLock { $0.failure = error.description }
                }
            }
            if closed {
                sinks.sync()
                finished.signal()
                return
            }
        }
    }
}

/// Where encoded records go.
private struct OutputSinks: @unchecked Sendable {
    // Used only by the output thread after construction.
    let file: AlertLogFile?
    let standardOutput: Bool

    func write(_ bytes: [UInt8]) throws(CaptureError) {
        try file?.write(bytes)
        if standardOutput {
            var offset = 0
            while offset < bytes.count {
                let n = bytes[offset...].withUnsafeBytes { Foundation.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
                if n < 0, errno == EINTR { continue }
                if n <= 0 { return }
                offset += n
            }
        }
    }

    func sync() { file?.sync() }
}
