import Foundation
import Logging
import PeerWatchCore
import Synchronization

/// The output thread: takes events from the capture side through a bounded queue, encodes and
/// chains them, and writes them to the log file, then to the alert socket and (for `read`)
/// standard output.
///
/// - Records are written whole or not at all. While the log cannot take them (a full disk),
///   they wait in memory (up to `maxPending`) and are retried every second; what does not fit is
///   counted and reported in a chained `dropped` record once writing works again.
/// - A record reaches socket readers only after it is in the log.
/// - The log is synced at least once a second while records flow, and then the chain head is
///   written to the state directory.
/// - Each time the log is opened it gets a `log_open` record, and a `log_close` when PeerWatch
///   stops or moves to a rotated file, so that `verify` can tell a whole log from a cut one.
///
/// The capture side never blocks on output when `policy` is `.dropWhenFull` (live capture): a
/// full queue counts the events it could not take. Offline reading uses `.waitWhenFull`.
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

    /// Where the log is and what the chain continues from.
    public struct LogSettings: Sendable {
        /// The alert log, or `nil` for none.
        public var path: String?
        /// Where the chain head is kept (`chain-head.json`), or `nil`.
        public var stateDirectory: String?
        public init(path: String?, stateDirectory: String? = nil) {
            self.path = path
            self.stateDirectory = stateDirectory
        }
    }

    /// Events queued at most; alerts are rare, so this absorbs any burst a real link makes.
    public static let queueCapacity = 65_536
    /// Records kept in memory while the log cannot be written: hours of alerts at any
    /// realistic rate; past it they are counted and reported as dropped.
    public static let maxPending = 65_536

    /// What the output thread has done, for metrics, `status` and the closing summary.
    public struct Tally: Sendable, Equatable {
        /// match and flow_end records written.
        public var written = 0
        /// Records lost: the queue was full, or they could not be written in time.
        public var dropped = 0
        /// Records waiting in memory for the log to take them.
        public var pending = 0
        /// Failed writes to the log.
        public var writeErrors = 0
        /// Failed reopens of the log (rotation).
        public var reopenFailures = 0
        /// The last write or reopen problem, if the log is not healthy now.
        public var problem: String?
    }

    private struct State {
        var queue: [DetectionEvent] = []
        var closed = false
        /// Events the full queue refused, with their capture times.
        var refused = 0
        var refusedFirst: Timestamp?
        var refusedLast: Timestamp?
        var tally = Tally()
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
    private let clock: SensorClock
    private let pendingLimit: Int

    /// Opens the log (cutting a torn last line), decides where the chain goes on from, and
    /// starts the output thread.
    /// - Throws: `CaptureError` when the log cannot be opened or is not a PeerWatch log.
    public init(
        sensor: SensorIdentity, log: LogSettings, writeToStandardOutput: Bool, policy: Policy, metrics: PeerWatchMetrics? = nil,
        socket: AlertSocket? = nil, limit: VolumeLimit? = nil, clock: SensorClock = .system, version: String = PeerWatchVersion.current,
        maxPending: Int = AlertOutput.maxPending, logger: Logger
    ) throws(CaptureError) {
        pendingLimit = max(2, maxPending)
        self.policy = policy
        self.logger = logger
        self.metrics = metrics
        self.socket = socket
        self.limit = limit
        self.clock = clock
        var head: ChainHead?
        if let directory = log.stateDirectory {
            do {
                head = try ChainHead.read(from: directory)
            } catch {
                logger.warning("chain head unreadable; continuing from the log alone", metadata: ["error": "\(error.message)"])
            }
        }
        var opening = LogOpening(reason: .start, file: log.path.map { ($0 as NSString).lastPathComponent }, appended: false,
                                 chainFrom: .genesis, version: version, processID: getpid())
        var chain = ChainState.genesis
        var file: AlertLogFile?
        if let path = log.path {
            let opened = try AlertLogFile.open(path: path)
            file = opened.file
            opening.recovered = opened.recovered
            if let recovered = opened.recovered {
                logger.warning("alert log ended in a torn line; cut it off and recorded the cut in the chain", metadata: [
                    "log.file": "\(path)", "log.bytes_cut": "\(recovered.bytes)", "log.cut_sha256": "\(recovered.sha256)",
                ])
            }
            if let last = opened.lastRecord {
                opening.appended = true
                opening.chainFrom = .log
                chain = ChainState(nextSequence: last.sequence + 1, previousHash: last.hash)
            }
        }
        // The head is synced after the log, so it is never ahead of a whole log: if it is, the
        // log lost records while PeerWatch was stopped. The chain goes on after them.
        if let head, head.sequence + 1 > chain.nextSequence {
            if chain.nextSequence > 1 {
                opening.missing = chain.nextSequence ... head.sequence
                logger.error("the alert log holds fewer records than the chain head names; the gap is recorded in the chain", metadata: [
                    "log.file": "\(log.path ?? "-")", "chain.log_last_seq": "\(chain.nextSequence - 1)", "chain.head_seq": "\(head.sequence)",
                ])
            }
            chain = ChainState(nextSequence: head.sequence + 1, previousHash: head.hash)
            opening.chainFrom = .head
        }
        let writer = LogWriter(
            encoder: AlertEncoder(sensor: sensor, chain: chain), file: file, path: log.path, stateDirectory: log.stateDirectory,
            standardOutput: writeToStandardOutput, socket: socket, version: version
        )
        let firstOpening = opening
        let thread = Thread { [self] in self.drain(writer: writer, opening: firstOpening) }
        thread.name = "peerwatch-output"
        thread.start()
    }

    /// Queues events for writing; never blocks under `.dropWhenFull`.
    public func submit(_ events: [DetectionEvent]) {
        var pending = events[...]
        if pending.contains(where: { if case .likelyEncrypted = $0 { true } else { false } }) {
            pending = events.filter { if case .likelyEncrypted = $0 { false } else { true } }[...]
        }
        while !pending.isEmpty {
            let accepted = state.withLock { state -> Int in
                let room = max(0, Self.queueCapacity - state.queue.count)
                let take = min(room, pending.count)
                state.queue.append(contentsOf: pending.prefix(take))
                if take < pending.count, policy == .dropWhenFull {
                    for event in pending.dropFirst(take) {
                        let time = event.timestamp
                        if state.refusedFirst == nil { state.refusedFirst = time }
                        state.refusedLast = time
                    }
                    state.refused += pending.count - take
                    state.tally.dropped += pending.count - take
                    return pending.count
                }
                return take
            }
            if accepted > 0 { wake.signal() }
            pending = pending.dropFirst(accepted)
            if !pending.isEmpty { room.wait() }
        }
    }

    /// Asks the output thread to reopen the log before its next write (log rotation).
    public func reopenLog() {
        state.withLock { $0.reopenRequested = true }
        wake.signal()
    }

    /// What the output has done so far.
    public var tally: Tally { state.withLock { $0.tally } }

    /// Records lost so far (queue full, or not written in time).
    public var droppedCount: Int { tally.dropped }

    /// match and flow_end records written.
    public var writtenCount: Int { tally.written }

    /// Writes everything queued, closes the log with a `log_close` record, stops the thread and
    /// reports a failure if records were lost at the end.
    public func close() throws(CaptureError) {
        state.withLock { $0.closed = true }
        wake.signal()
        finished.wait()
        if let failure = state.withLock({ $0.failure }) { throw CaptureError(failure) }
    }

    // MARK: - The output thread

    /// A record waiting to be encoded and written.
    fileprivate enum Item {
        case event(DetectionEvent)
        case suppressed(count: Int, first: Timestamp, last: Timestamp, limit: Int)
        case logOpen(LogOpening)
        case logClose(LogClosing)
    }

    private func drain(writer: LogWriter, opening: LogOpening) {
        var writer = writer
        var pending: [Item] = [.logOpen(opening)]
        pending.reserveCapacity(1_024)
        var lost = (count: 0, first: Timestamp?.none, last: Timestamp?.none, reason: "")
        var tokens = Double(limit?.burst ?? 0)
        var refilled = clock.monotonic()
        var held = (count: 0, first: Timestamp(microseconds: 0), last: Timestamp(microseconds: 0))
        var lastHeldReport = clock.monotonic()
        var lastSync = clock.monotonic()
        var failing = false
        var segmentRecords = 0

        func admit() -> Bool {
            guard let limit else { return true }
            let now = clock.monotonic()
            tokens = min(Double(limit.burst), tokens + (now - refilled).seconds * Double(limit.perSecond))
            refilled = now
            guard tokens >= 1 else { return false }
            tokens -= 1
            return true
        }
        func queue(_ item: Item) {
            guard pending.count < pendingLimit else {
                let time = item.time
                lost.count += 1
                if lost.first == nil { lost.first = time }
                if let time { lost.last = time }
                lost.reason = "the log could not take records for too long; \(pendingLimit) were kept waiting"
                state.withLock { $0.tally.dropped += 1 }
                return
            }
            pending.append(item)
        }
        /// Writes pending records in order until one fails; returns whether all went out.
        /// Reports lost records in a `dropped` record (after the log's log_open, if that is
        /// still to be written).
        func writeDropped() -> Bool {
            guard lost.count > 0 else { return true }
            let now = clock.wall()
            guard writer.write({ $0.encodeDropped(count: lost.count, first: lost.first, last: lost.last, reason: lost.reason, at: now) }) else {
                return false
            }
            logger.warning("records lost and reported in a dropped record", metadata: ["records.dropped": "\(lost.count)", "reason": "\(lost.reason)"])
            lost = (0, nil, nil, "")
            segmentRecords += 1
            return true
        }
        func flush() -> Bool {
            var index = 0
            defer {
                pending.removeFirst(index)
                state.withLock { $0.tally.pending = pending.count }
            }
            if pending.first.map({ if case .logOpen = $0 { false } else { true } }) ?? true, !writeDropped() { return noteFailure() }
            while index < pending.count {
                let item = pending[index]
                if index == 1, case .logOpen = pending[0], !writeDropped() { return noteFailure() }
                let now = clock.wall()
                let ok = writer.write { encoder in
                    switch item {
                    case .event(let event): encoder.encode(event)
                    case .suppressed(let count, let first, let last, let limit): encoder.encodeSuppressed(count: count, first: first, last: last, limit: limit)
                    case .logOpen(let opening): encoder.encodeLogOpen(opening, at: now)
                    case .logClose(let reason): encoder.encodeLogClose(reason: reason, records: segmentRecords, at: now)
                    }
                }
                guard ok else { return noteFailure() }
                index += 1
                switch item {
                case .event(let event):
                    segmentRecords += 1
                    state.withLock { $0.tally.written += 1 }
                    if case .match(let alert) = event { metrics?.alertWritten(proto: alert.observation.proto, kind: alert.hit.entry.id.kind) }
                case .suppressed:
                    segmentRecords += 1
                case .logOpen:
                    segmentRecords = 0
                case .logClose:
                    break
                }
            }
            if failing {
                failing = false
                state.withLock { $0.tally.problem = nil }
                logger.notice("alert log writable again", metadata: ["log.file": "\(writer.path ?? "-")"])
            }
            return true
        }
        func noteFailure() -> Bool {
            let problem = writer.lastError ?? "write failed"
            state.withLock {
                $0.tally.writeErrors += 1
                $0.tally.problem = problem
            }
            metrics?.logWriteFailed()
            if !failing {
                failing = true
                logger.error("alert log write failed; records wait in memory and are retried every second", metadata: [
                    "log.file": "\(writer.path ?? "-")", "error": "\(problem)", "records.pending": "\(pending.count)",
                ])
            }
            return false
        }
        func syncIfDue(force: Bool) {
            guard writer.unsynced, force || clock.monotonic() - lastSync >= .seconds(1) else { return }
            lastSync = clock.monotonic()
            if let problem = writer.syncAndRecordHead() {
                logger.warning("cannot write the chain head", metadata: ["error": "\(problem)"])
            }
        }

        /// Moves to the file now at the log's path (after logrotate renamed the old one): the
        /// old file gets a `log_close`, the new one a `log_open`. If the new file cannot be
        /// opened, the records go on into the old one, and the failure is logged and counted.
        func moveToRotatedFile() {
            guard let path = writer.path else { return }
            let opened: AlertLogFile.Opened
            do {
                opened = try AlertLogFile.open(path: path)
            } catch {
                state.withLock {
                    $0.tally.reopenFailures += 1
                    $0.tally.problem = error.message
                }
                metrics?.logReopenFailed()
                logger.error("alert log reopen failed; writing on to the old file", metadata: ["log.file": "\(path)", "error": "\(error.message)"])
                return
            }
            if let current = writer.file, current.isSameFile(as: opened.file) {
                logger.info("alert log reopened (the same file: nothing was rotated)", metadata: ["log.file": "\(path)"])
                return
            }
            // Close the old file properly if it takes the record; what is still pending goes to
            // the new file either way.
            pending.insert(.logClose(.rotation), at: 0)
            if !flush(), case .logClose = pending.first { pending.removeFirst() }
            syncIfDue(force: true)
            writer.switchTo(opened.file)
            var opening = LogOpening(reason: .reopen, file: (path as NSString).lastPathComponent, appended: opened.lastRecord != nil,
                                     chainFrom: .run, version: writer.version, processID: getpid())
            opening.recovered = opened.recovered
            pending.insert(.logOpen(opening), at: 0)
            _ = flush()
            logger.info("alert log reopened", metadata: ["log.file": "\(path)"])
        }

        while true {
            _ = wake.wait(timeout: .now() + .milliseconds(500))
            let (batch, closed, reopen) = state.withLock { state -> ([DetectionEvent], Bool, Bool) in
                let batch = state.queue
                state.queue.removeAll(keepingCapacity: true)
                defer { state.reopenRequested = false }
                if state.refused > 0 {
                    lost.count += state.refused
                    lost.first = lost.first ?? state.refusedFirst
                    lost.last = state.refusedLast
                    lost.reason = "the output queue was full"
                    state.refused = 0
                    state.refusedFirst = nil
                    state.refusedLast = nil
                }
                return (batch, state.closed, state.reopenRequested)
            }
            if !batch.isEmpty { room.signal() }
            for event in batch {
                guard admit() else {
                    if held.count == 0 { held.first = event.timestamp }
                    held.count += 1
                    held.last = event.timestamp
                    continue
                }
                queue(.event(event))
            }
            if held.count > 0, let limit, closed || clock.monotonic() - lastHeldReport >= .seconds(1) {
                lastHeldReport = clock.monotonic()
                logger.warning("alert volume over the limit; records held back and counted", metadata: [
                    "alerts.suppressed": "\(held.count)", "alerts.limit_per_second": "\(limit.perSecond)",
                ])
                metrics?.alertsSuppressed(held.count)
                queue(.suppressed(count: held.count, first: held.first, last: held.last, limit: limit.perSecond))
                held.count = 0
            }
            _ = flush()
            if reopen {
                moveToRotatedFile()
            }
            if closed {
                queue(.logClose(.shutdown))
                if !flush() {
                    let count = pending.count
                    state.withLock {
                        $0.tally.dropped += count
                        $0.failure = "\(count) records could not be written to \(writer.path ?? "the log"): \(writer.lastError ?? "write failed")"
                    }
                    logger.error("records lost at shutdown: the log cannot take them", metadata: ["records.lost": "\(count)"])
                }
                syncIfDue(force: true)
                metrics?.update(output: tally)
                finished.signal()
                return
            }
            syncIfDue(force: false)
            metrics?.update(output: tally)
        }
    }
}

extension AlertOutput.Item {
    /// The capture time the record is about, if any.
    fileprivate var time: Timestamp? {
        switch self {
        case .event(let event): event.timestamp
        case .suppressed(_, _, let last, _): last
        case .logOpen, .logClose: nil
        }
    }
}

extension DetectionEvent {
    /// The capture time the event is about.
    var timestamp: Timestamp {
        switch self {
        case .match(let alert): alert.timestamp
        case .flowEnd(let summary): summary.end
        case .likelyEncrypted: Timestamp(microseconds: 0)
        }
    }
}

/// The output thread's sinks and chain: encodes a record, writes it to the log whole or not at
/// all, and only then hands it on to standard output.
private struct LogWriter: @unchecked Sendable {
    // Used only by the output thread after construction.
    private(set) var encoder: AlertEncoder
    private(set) var file: AlertLogFile?
    let path: String?
    let stateDirectory: String?
    let standardOutput: Bool
    let version: String
    /// Whether records were written since the last sync.
    private(set) var unsynced = false
    /// The last failure, `nil` after a success.
    private(set) var lastError: String?
    /// Where records go once they are in the log.
    let socket: AlertSocket?

    init(encoder: AlertEncoder, file: AlertLogFile?, path: String?, stateDirectory: String?, standardOutput: Bool, socket: AlertSocket?, version: String) {
        self.encoder = encoder
        self.socket = socket
        self.file = file
        self.path = path
        self.stateDirectory = stateDirectory
        self.standardOutput = standardOutput
        self.version = version
    }

    /// Encodes with a copy of the encoder and writes; the chain advances only if the record
    /// is in the log.
    mutating func write(_ encode: (inout AlertEncoder) -> [UInt8]) -> Bool {
        var next = encoder
        let line = encode(&next)
        if let file {
            do {
                try file.append(line)
            } catch {
                lastError = error.message
                return false
            }
            unsynced = true
        }
        encoder = next
        lastError = nil
        socket?.publish(line)
        if standardOutput { Self.writeStandardOutput(line) }
        return true
    }

    mutating func switchTo(_ newFile: AlertLogFile) {
        file?.sync()
        file = newFile
        unsynced = true
    }

    /// Syncs the log and records the chain head; returns a problem with the head, if any.
    mutating func syncAndRecordHead() -> String? {
        file?.sync()
        unsynced = false
        guard let stateDirectory, encoder.chain.nextSequence > 1 else { return nil }
        let head = ChainHead(sequence: encoder.chain.nextSequence - 1, hash: encoder.chain.previousHash, log: path)
        do {
            try head.write(to: stateDirectory)
            return nil
        } catch {
            return error.message
        }
    }

    private static func writeStandardOutput(_ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Foundation.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }
}
