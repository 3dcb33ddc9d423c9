import Foundation
import Logging
import PeerWatchCore
import Synchronization

/// Everything a pipeline run needs besides the watch list.
public struct PipelineOptions: Sendable {
    /// Where packets come from.
    public var source: PacketSource
    /// The engine's tunables.
    public var engine = EngineConfiguration()
    /// The sensor's name in records.
    public var sensorName: String
    /// The alert log, or `nil`.
    public var logPath: String?
    /// Whether records also go to standard output.
    public var writeToStandardOutput = false
    /// How often a live capture logs its counters, in seconds.
    public var statisticsInterval: TimeInterval = 60
    /// Where counters are published (about once a second), if anywhere.
    public var metrics: PeerWatchMetrics?
    /// The alert socket records also go to, if any.
    public var socket: AlertSocket?
    /// The global guard on alert volume, or `nil` for none (offline reading keeps everything).
    public var volumeLimit: AlertOutput.VolumeLimit?
    /// Called from the capture thread on every read timeout and every 1,024 packets: proof of
    /// life for a watchdog.
    public var heartbeat: (@Sendable () -> Void)?

    public init(source: PacketSource, sensorName: String) {
        self.source = source
        self.sensorName = sensorName
    }
}

/// What a run did, for the closing log line and the exit status.
public struct PipelineReport: Sendable {
    /// The engine's counters.
    public var counters: EngineCounters
    /// libpcap's counters, for a live capture.
    public var capture: CaptureStatistics?
    /// Records written.
    public var recordsWritten: Int
    /// Records dropped because output could not keep up.
    public var recordsDropped: Int
}

/// Capture → detection → output. The capture thread decodes and detects inline, straight from
/// libpcap's buffer (no packet copy), and hands events to the output thread. Offline `read`
/// and live `run` use the same path.
public final class Pipeline {
    private let options: PipelineOptions
    private let logger: Logger
    private var engine: DetectionEngine

    private let watchLists: WatchListStore
    private var watchListGeneration: Int
    private let logHandle = LogHandle()

    /// A handle that reopens the alert log, for a signal handler on another thread.
    public var logReopener: LogHandle { logHandle }

    public init(options: PipelineOptions, watchLists: WatchListStore, logger: Logger) {
        self.options = options
        self.logger = logger
        self.watchLists = watchLists
        let (snapshot, generation) = watchLists.snapshotAndGeneration()
        watchListGeneration = generation
        engine = DetectionEngine(configuration: options.engine, watchList: snapshot)
    }

    public convenience init(options: PipelineOptions, watchList: WatchListSnapshot, logger: Logger) {
        self.init(options: options, watchLists: WatchListStore(snapshot: watchList, logger: logger), logger: logger)
    }

    /// Takes a reloaded snapshot between packets: one relaxed load per packet, the lock only
    /// when the generation moved.
    private func refreshWatchList() {
        guard watchLists.generation != watchListGeneration else { return }
        let (snapshot, generation) = watchLists.snapshotAndGeneration()
        engine.watchList = snapshot
        watchListGeneration = generation
    }

    /// Runs until the source ends or `stop` is requested.
    /// - Parameter onCaptureOpen: called once capture has started (readiness).
    public func run(stop: StopSignal, onCaptureOpen: @escaping () -> Void = {}) throws(CaptureError) -> PipelineReport {
        if case .files(let paths) = options.source { try CaptureLoop.validate(files: paths) }
        let isLive: Bool
        if case .live = options.source { isLive = true } else { isLive = false }
        let output = try AlertOutput(
            sensor: SensorIdentity(name: options.sensorName, interface: options.source.interfaceName),
            logPath: options.logPath, writeToStandardOutput: options.writeToStandardOutput,
            policy: isLive ? .dropWhenFull : .waitWhenFull, metrics: options.metrics, socket: options.socket, limit: options.volumeLimit, logger: logger
        )
        logHandle.output.withLock { $0 = output }
        defer { logHandle.output.withLock { $0 = nil } }
        var loop = CaptureLoop(source: options.source, stop: stop)
        var events: [DetectionEvent] = []
        events.reserveCapacity(64)
        var lastStatistics = Date()
        var lastMetrics = Date.distantPast
        var packetsSinceClockCheck = 0
        var opened = false
        var captureFailure: CaptureError?
        do {
            try loop.run(onOpen: { [logger, options] linkName in
                if !opened {
                    opened = true
                    logger.info("capture started", metadata: ["capture.source": "\(Self.describe(options.source))", "capture.link": "\(linkName)"])
                    onCaptureOpen()
                }
            }, onIdle: {
                // No packet for a while: let wall-clock time expire idle flows.
                self.engine.advanceClock(to: Self.now(), events: &events)
                if !events.isEmpty {
                    output.submit(events)
                    events.removeAll(keepingCapacity: true)
                }
                self.publishMetricsIfDue(&lastMetrics, output: output)
                options.heartbeat?()
                if isLive, Date().timeIntervalSince(lastStatistics) >= options.statisticsInterval {
                    lastStatistics = Date()
                    self.logStatistics(output: output)
                }
            }, onStatistics: { [options] statistics in
                options.metrics?.update(statistics)
            }, onLost: { [logger, options] error, retry in
                options.metrics?.captureInterrupted()
                logger.error("capture lost; retrying", metadata: [
                    "capture.source": "\(Self.describe(options.source))", "error": "\(error.message)", "retry.seconds": "\(retry.components.seconds)",
                ])
            }, onRestored: { [logger, options] in
                logger.notice("capture restored", metadata: ["capture.source": "\(Self.describe(options.source))"])
            }, consume: { bytes, wireLength, timestamp, link in
                packetsSinceClockCheck &+= 1
                if packetsSinceClockCheck >= 1_024 {
                    packetsSinceClockCheck = 0
                    self.publishMetricsIfDue(&lastMetrics, output: output)
                    options.heartbeat?()
                }
                self.refreshWatchList()
                self.engine.process(frame: bytes, wireLength: wireLength, timestamp: timestamp, link: link, events: &events)
                if !events.isEmpty {
                    output.submit(events)
                    events.removeAll(keepingCapacity: true)
                }
            })
        } catch {
            captureFailure = error
        }
        engine.finish(events: &events)
        output.submit(events)
        try output.close()
        options.metrics?.update(engine.counters, activeFlows: engine.flowCount)
        if let capture = loop.finalStatistics { options.metrics?.update(capture) }
        options.metrics?.update(recordsDropped: output.droppedCount)
        if let captureFailure { throw captureFailure }
        let report = PipelineReport(
            counters: engine.counters, capture: loop.finalStatistics,
            recordsWritten: output.writtenCount, recordsDropped: output.droppedCount
        )
        return report
    }

    /// Publishes the counters if a second has passed since the last time.
    private func publishMetricsIfDue(_ last: inout Date, output: AlertOutput) {
        guard let metrics = options.metrics else { return }
        let now = Date()
        guard now.timeIntervalSince(last) >= 1 else { return }
        last = now
        metrics.update(engine.counters, activeFlows: engine.flowCount)
        metrics.update(recordsDropped: output.droppedCount)
        if let socket = options.socket { metrics.update(socketReaders: socket.readerCount, socketDropped: socket.droppedLines) }
    }

    private func logStatistics(output: AlertOutput) {
        let c = engine.counters
        logger.info("statistics", metadata: [
            "packets": "\(c.packets)", "bytes": "\(c.bytes)", "flows.active": "\(engine.flowCount)",
            "flows.p2p": "\(c.p2pFlows.reduce(0, +))", "alerts": "\(c.matches)",
            "alerts.dropped": "\(output.droppedCount)",
        ])
    }

    static func now() -> Timestamp {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Timestamp(seconds: Int64(time.tv_sec), microseconds: Int64(time.tv_nsec / 1_000))
    }

    static func describe(_ source: PacketSource) -> String {
        switch source {
        case .files(let paths): paths.joined(separator: ", ")
        case .live(let options): options.interface
        }
    }
}

/// Reaches the running pipeline's alert output from other threads (signal handlers).
public final class LogHandle: Sendable {
    let output = Mutex<AlertOutput?>(nil)

    /// Reopens the alert log, if a run is writing one.
    public func reopen() {
        output.withLock { $0 }?.reopenLog()
    }
}
