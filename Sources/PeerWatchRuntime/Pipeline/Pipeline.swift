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
    /// Where the alert chain's head is kept (`chain-head.json`), or `nil`.
    public var stateDirectory: String?
    /// Whether records also go to standard output.
    public var writeToStandardOutput = false
    /// How often a live capture logs its counters, in seconds.
    public var statisticsInterval: Duration = .seconds(60)
    /// Where counters are published (about once a second), if anywhere.
    public var metrics: PeerWatchMetrics?
    /// The alert socket records also go to, if any.
    public var socket: AlertSocket?
    /// The global guard on alert volume, or `nil` for none (offline reading keeps everything).
    public var volumeLimit: AlertOutput.VolumeLimit?
    /// Called from the capture thread each time it wakes, at least every 200 ms whether or not
    /// packets arrive: proof of life for a watchdog.
    public var heartbeat: (@Sendable () -> Void)?
    /// The clocks housekeeping and output read.
    public var clock: SensorClock = .system
    /// Worker threads, each owning its share of the flows. Capture files are read on this
    /// many workers (standard input and FIFOs on one); a live capture opens one handle per
    /// worker in a `PACKET_FANOUT` group.
    public var threads = 1

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
    /// Records lost (output could not keep up, or the log could not take them).
    public var recordsDropped: Int
    /// Whether the input was read to its end or a stop cut it short.
    public var end: CaptureEnd
    /// Flows held just before the end (before they were ended).
    public var flowsAtEnd = 0
    /// Bytes the flow tables and pools took then, all workers: slots, index, reassembly, decoders.
    public var footprint: (slots: Int, index: Int, streams: Int, decoders: Int) = (0, 0, 0, 0)
}

/// Capture → detection → output. The capture thread decodes and detects inline, straight from
/// libpcap's buffer (no packet copy), and hands events to the output thread. Offline `read`
/// and live `run` use the same path.
///
/// Housekeeping runs on the capture thread about once a second whether or not packets arrive
/// (the capture loop wakes at least every 200 ms): idle flows expire on the wall clock, metrics
/// are published, the watchdog is fed, the statistics line is logged and the interface's link
/// state is watched.
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
        var link: InterfaceLinkWatcher?
        if case .live(let live) = options.source {
            isLive = true
            link = InterfaceLinkWatcher(interface: live.interface)
        } else {
            isLive = false
        }
        let output = try AlertOutput(
            sensor: SensorIdentity(name: options.sensorName, interface: options.source.interfaceName),
            log: AlertOutput.LogSettings(path: options.logPath, stateDirectory: options.stateDirectory),
            writeToStandardOutput: options.writeToStandardOutput, policy: isLive ? .dropWhenFull : .waitWhenFull,
            metrics: options.metrics, socket: options.socket, limit: options.volumeLimit, clock: options.clock, logger: logger
        )
        logHandle.output.withLock { $0 = output }
        defer { logHandle.output.withLock { $0 = nil } }
        if case .files(let paths) = options.source, paths.allSatisfy(PcapHandle.isRegularFile) {
            return try runDispatched(paths: paths, output: output, stop: stop, onCaptureOpen: onCaptureOpen)
        }
        if case .live(let live) = options.source, options.threads > 1 {
            return try runFanout(live: live, output: output, stop: stop, onCaptureOpen: onCaptureOpen)
        }
        var loop = CaptureLoop(source: options.source, stop: stop)
        var events: [DetectionEvent] = []
        events.reserveCapacity(64)
        let clock = options.clock
        var lastHousekeeping = Duration.zero
        var lastStatistics = clock.monotonic()
        var opened = false
        var captureFailure: CaptureError?
        var end = CaptureEnd.stopped
        /// Once a second, packets or not.
        func housekeeping() {
            let now = clock.monotonic()
            guard now - lastHousekeeping >= .seconds(1) else { return }
            lastHousekeeping = now
            if isLive {
                // A quiet link: let wall-clock time expire idle flows.
                engine.advanceClock(to: clock.wall(), events: &events)
                if !events.isEmpty {
                    output.submit(events)
                    events.removeAll(keepingCapacity: true)
                }
            }
            publishMetrics()
            if isLive, now - lastStatistics >= options.statisticsInterval {
                lastStatistics = now
                logStatistics(output: output)
            }
            link?.check(logger: logger, metrics: options.metrics)
        }
        do {
            end = try loop.run(onOpen: { [logger, options] linkName in
                if !opened {
                    opened = true
                    logger.info("capture started", metadata: ["capture.source": "\(Self.describe(options.source))", "capture.link": "\(linkName)"])
                    onCaptureOpen()
                }
            }, onTick: { [options] in
                // Proof of life on every wake (at least every 200 ms), for the watchdog.
                options.heartbeat?()
                housekeeping()
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
        let flowsAtEnd = engine.flowCount, footprint = engine.footprint
        engine.finish(events: &events)
        output.submit(events)
        let closeFailure: CaptureError?
        do {
            try output.close()
            closeFailure = nil
        } catch {
            closeFailure = error
        }
        options.metrics?.update(engine.counters, activeFlows: engine.flowCount)
        if let capture = loop.finalStatistics { options.metrics?.update(capture) }
        options.metrics?.update(output: output.tally)
        if let captureFailure { throw captureFailure }
        if let closeFailure { throw closeFailure }
        return PipelineReport(
            counters: engine.counters, capture: loop.finalStatistics,
            recordsWritten: output.writtenCount, recordsDropped: output.droppedCount, end: end,
            flowsAtEnd: flowsAtEnd, footprint: footprint
        )
    }

    /// Capture files on several workers (`DispatchedRead`): this thread reads and decodes,
    /// the workers keep the flows, and events come back in capture order.
    private func runDispatched(paths: [String], output: AlertOutput, stop: StopSignal, onCaptureOpen: () -> Void) throws(CaptureError) -> PipelineReport {
        let read = DispatchedRead(paths: paths, threads: options.threads, configuration: options.engine, watchLists: watchLists, stop: stop)
        var opened = false
        var lastMetrics = Duration.zero
        let clock = options.clock
        let outcome = read.run(onOpen: { [logger, options] linkName in
            if !opened {
                opened = true
                logger.info("capture started", metadata: ["capture.source": "\(Self.describe(options.source))", "capture.link": "\(linkName)",
                                                          "capture.workers": "\(options.threads)"])
                onCaptureOpen()
            }
        }, onTick: { [options] in
            options.heartbeat?()
            let now = clock.monotonic()
            if now - lastMetrics >= .seconds(1), let metrics = options.metrics {
                lastMetrics = now
                metrics.update(read.counters, activeFlows: read.flowCount)
            }
        }, submit: { output.submit($0) })
        let closeFailure: CaptureError?
        do {
            try output.close()
            closeFailure = nil
        } catch {
            closeFailure = error
        }
        let counters = read.counters
        options.metrics?.update(counters, activeFlows: 0)
        options.metrics?.update(output: output.tally)
        if let failure = outcome.failure { throw failure }
        if let closeFailure { throw closeFailure }
        let end = read.atEnd
        return PipelineReport(counters: counters, capture: nil, recordsWritten: output.writtenCount, recordsDropped: output.droppedCount,
                              end: outcome.end, flowsAtEnd: end.flows, footprint: end.footprint)
    }

    /// A live capture on several workers in a `PACKET_FANOUT` group (`FanoutCapture`).
    private func runFanout(live: LiveCaptureOptions, output: AlertOutput, stop: StopSignal, onCaptureOpen: () -> Void) throws(CaptureError) -> PipelineReport {
        let fanout = FanoutCapture(options: options, live: live, watchLists: watchLists, output: output, logger: logger, stop: stop)
        var report: PipelineReport
        do {
            report = try fanout.run(onCaptureOpen: onCaptureOpen)
        } catch {
            try? output.close()
            throw error
        }
        try output.close()
        options.metrics?.update(output: output.tally)
        report.recordsWritten = output.writtenCount
        report.recordsDropped = output.droppedCount
        return report
    }

    private func publishMetrics() {
        guard let metrics = options.metrics else { return }
        metrics.update(engine.counters, activeFlows: engine.flowCount)
        if let socket = options.socket { metrics.update(socketReaders: socket.readerCount, socketDropped: socket.droppedLines) }
    }

    private func logStatistics(output: AlertOutput) {
        let c = engine.counters
        let tally = output.tally
        logger.info("statistics", metadata: [
            "packets": "\(c.packets)", "bytes": "\(c.bytes)", "flows.active": "\(engine.flowCount)",
            "flows.p2p": "\(c.p2pFlows.reduce(0, +))", "alerts": "\(c.matches)",
            "records.written": "\(tally.written)", "records.dropped": "\(tally.dropped)", "records.pending": "\(tally.pending)",
        ])
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
