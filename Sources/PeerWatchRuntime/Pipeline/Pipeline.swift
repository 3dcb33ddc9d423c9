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
    /// Called at least every 200 ms whether or not packets arrive, while capture is alive (live:
    /// only while every worker shows life): proof of life for a watchdog.
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
    /// Bytes the flow tables and pools took then, all workers.
    public var footprint = FlowFootprint()
    /// What ended the capture early, if anything: thrown once the records are written.
    var failure: CaptureError?
}

/// Capture → detection → output, for `read` and `run` alike.
///
/// - Capture files (regular files) go through `DispatchedRead`: a reader thread and
///   `options.threads` workers that each keep a share of the flows, events in capture order.
/// - A live interface goes through `FanoutCapture`: one libpcap handle and engine per worker
///   (in a `PACKET_FANOUT` group when there are several), each doing its own housekeeping once a
///   second whether or not packets arrive, while this thread feeds the watchdog, publishes the
///   metrics, logs the statistics line and watches the link.
/// - FIFOs, pipes and standard input are read once, in order, by one engine on this thread,
///   straight from libpcap's buffer.
///
/// One output thread writes the records, in one order.
public final class Pipeline {
    private let options: PipelineOptions
    private let logger: Logger
    private let watchLists: WatchListStore
    private let logHandle = LogHandle()

    /// A handle that reopens the alert log, for a signal handler on another thread.
    public var logReopener: LogHandle { logHandle }

    public init(options: PipelineOptions, watchLists: WatchListStore, logger: Logger) {
        self.options = options
        self.logger = logger
        self.watchLists = watchLists
    }

    public convenience init(options: PipelineOptions, watchList: WatchListSnapshot, logger: Logger) {
        self.init(options: options, watchLists: WatchListStore(snapshot: watchList, logger: logger), logger: logger)
    }

    /// Runs until the source ends or `stop` is requested.
    /// - Parameter onCaptureOpen: called once capture has started (readiness).
    public func run(stop: StopSignal, onCaptureOpen: @escaping () -> Void = {}) throws(CaptureError) -> PipelineReport {
        var isLive = false
        switch options.source {
        case .files(let paths): try CaptureLoop.validate(files: paths)
        case .live: isLive = true
        }
        let output = try AlertOutput(
            sensor: SensorIdentity(name: options.sensorName, interface: options.source.interfaceName),
            log: AlertOutput.LogSettings(path: options.logPath, stateDirectory: options.stateDirectory),
            writeToStandardOutput: options.writeToStandardOutput, policy: isLive ? .dropWhenFull : .waitWhenFull,
            metrics: options.metrics, socket: options.socket, limit: options.volumeLimit, clock: options.clock, logger: logger
        )
        logHandle.output.withLock { $0 = output }
        defer { logHandle.output.withLock { $0 = nil } }
        var report: PipelineReport
        let failure: CaptureError?
        do {
            switch options.source {
            case .live(let live):
                report = try FanoutCapture(options: options, live: live, watchLists: watchLists, output: output, logger: logger, stop: stop)
                    .run(onCaptureOpen: onCaptureOpen)
            case .files(let paths) where paths.allSatisfy(PcapHandle.isRegularFile):
                report = try runDispatched(paths: paths, output: output, stop: stop, onCaptureOpen: onCaptureOpen)
            case .files(let paths):
                report = try runStreams(paths: paths, output: output, stop: stop, onCaptureOpen: onCaptureOpen)
            }
            failure = report.failure
        } catch {
            try? output.close()
            throw error
        }
        // Whatever ended the capture, every record is written and the log closed first.
        try output.close()
        options.metrics?.update(output: output.tally)
        if let failure { throw failure }
        report.recordsWritten = output.writtenCount
        report.recordsDropped = output.droppedCount
        return report
    }

    /// Capture files on several workers (`DispatchedRead`): a reader thread decodes, the workers
    /// keep the flows, and events come back in capture order.
    private func runDispatched(paths: [String], output: AlertOutput, stop: StopSignal, onCaptureOpen: () -> Void) throws(CaptureError) -> PipelineReport {
        let read = DispatchedRead(paths: paths, threads: options.threads, configuration: options.engine, watchLists: watchLists, stop: stop)
        var progress = Progress()
        let outcome = read.run(onOpen: { [logger, options] linkName in
            if progress.open(linkName, logger: logger, options: options, workers: options.threads) { onCaptureOpen() }
        }, onTick: { [options] in
            progress.tick(options) { $0.update(read.counters, activeFlows: read.flowCount) }
        }, submit: { output.submit($0) })
        let counters = read.counters
        options.metrics?.update(counters, activeFlows: 0)
        let end = read.atEnd
        return PipelineReport(counters: counters, capture: nil, recordsWritten: 0, recordsDropped: 0, end: outcome.end,
                              flowsAtEnd: end.flows, footprint: end.footprint, failure: outcome.failure)
    }

    /// FIFOs, pipes and standard input: one engine on this thread, each input read once.
    private func runStreams(paths: [String], output: AlertOutput, stop: StopSignal, onCaptureOpen: () -> Void) throws(CaptureError) -> PipelineReport {
        var (snapshot, generation) = watchLists.snapshotAndGeneration()
        var engine = DetectionEngine(configuration: options.engine, watchList: snapshot)
        var loop = CaptureLoop(source: .files(paths), stop: stop)
        var events: [DetectionEvent] = []
        events.reserveCapacity(64)
        let watchLists = watchLists
        var progress = Progress()
        var failure: CaptureError?
        var end = CaptureEnd.stopped
        do {
            end = try loop.run(onOpen: { [logger, options] linkName in
                if progress.open(linkName, logger: logger, options: options, workers: nil) { onCaptureOpen() }
            }, onTick: { [options] in
                progress.tick(options) { $0.update(engine.counters, activeFlows: engine.flowCount) }
            }, consume: { bytes, wireLength, timestamp, link in
                // One relaxed load per packet; the lock only when a reload moved the generation.
                if watchLists.generation != generation {
                    (snapshot, generation) = watchLists.snapshotAndGeneration()
                    engine.watchList = snapshot
                }
                engine.process(frame: bytes, wireLength: wireLength, timestamp: timestamp, link: link, events: &events)
                if !events.isEmpty {
                    output.submit(events)
                    events.removeAll(keepingCapacity: true)
                }
            })
        } catch {
            failure = error
        }
        let flowsAtEnd = engine.flowCount, footprint = engine.footprint
        engine.finish(events: &events)
        output.submit(events)
        options.metrics?.update(engine.counters, activeFlows: 0)
        return PipelineReport(counters: engine.counters, capture: nil, recordsWritten: 0, recordsDropped: 0, end: end,
                              flowsAtEnd: flowsAtEnd, footprint: footprint, failure: failure)
    }

    /// What both offline paths do as their capture goes: say once that it started, feed the
    /// heartbeat, and publish the metrics once a second.
    private struct Progress {
        var opened = false
        var lastMetrics = Duration.zero

        /// Logs the start the first time; returns whether this was it.
        mutating func open(_ linkName: String, logger: Logger, options: PipelineOptions, workers: Int?) -> Bool {
            guard !opened else { return false }
            opened = true
            var metadata: Logger.Metadata = ["capture.source": "\(Pipeline.describe(options.source))", "capture.link": "\(linkName)"]
            if let workers { metadata["capture.workers"] = "\(workers)" }
            logger.info("capture started", metadata: metadata)
            return true
        }

        mutating func tick(_ options: PipelineOptions, publish: (PeerWatchMetrics) -> Void) {
            options.heartbeat?()
            let now = options.clock.monotonic()
            if now - lastMetrics >= .seconds(1), let metrics = options.metrics {
                lastMetrics = now
                publish(metrics)
            }
        }
    }

    /// The statistics line of a live capture.
    static func logStatistics(_ logger: Logger, counters c: EngineCounters, flows: Int, output: AlertOutput, capture: CaptureStatistics?) {
        let tally = output.tally
        var metadata: Logger.Metadata = [
            "packets": "\(c.packets)", "bytes": "\(c.bytes)", "flows.active": "\(flows)",
            "flows.p2p": "\(c.p2pFlows.reduce(0, +))", "alerts": "\(c.matches)",
            "records.written": "\(tally.written)", "records.dropped": "\(tally.dropped)", "records.pending": "\(tally.pending)",
        ]
        if let capture {
            metadata["capture.received"] = "\(capture.received)"
            metadata["capture.dropped.kernel"] = "\(capture.droppedByKernel)"
        }
        logger.info("statistics", metadata: metadata)
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
