import Dispatch
import Foundation
import Logging
import PeerWatchCore
import Synchronization

/// Live capture on one or several workers: each worker opens its own libpcap handle on the
/// interface and, when there are several, joins it to one `PACKET_FANOUT` group, so that the
/// kernel deals flows between them by a symmetric hash of their addresses (see
/// `PcapHandle.joinFanout`) and no thread copies a packet. Each worker owns its engine outright
/// (its share of the flow table, its decoder pools), reads its ring with `pcap_dispatch`, does
/// its own housekeeping once a second (idle flows expire on the wall clock), and hands its
/// events to the one output, which keeps the alert chain in one order. The tally of flagged
/// addresses is shared, under a lock taken only when a worker has events.
///
/// The calling thread coordinates: it waits until every worker's capture is open (the first
/// open of each must succeed), then feeds the watchdog while every worker shows life, publishes
/// the summed counters, logs the statistics line and watches the link.
final class FanoutCapture: Sendable {
    /// One worker's published state, read by the coordinator.
    private final class Member: Sendable {
        let number: Int
        let opened = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        /// Set if the first open failed.
        let failure = Mutex<CaptureError?>(nil)
        /// The counters, flows held and capture statistics as of the last housekeeping.
        let published = Mutex<(counters: EngineCounters, flows: Int, capture: CaptureStatistics?)>((EngineCounters(), 0, nil))
        let atEnd = Mutex<(flows: Int, footprint: FlowFootprint)>((0, FlowFootprint()))
        /// When the worker last woke, in milliseconds of the monotonic clock.
        let lastWake = Atomic<Int64>(0)

        init(number: Int) { self.number = number }
    }

    /// How long a worker may go without waking before the watchdog is no longer fed.
    static let stallLimit: Duration = .seconds(5)

    private let options: PipelineOptions
    private let live: LiveCaptureOptions
    private let share: EngineConfiguration
    private let watchLists: WatchListStore
    private let output: AlertOutput
    private let logger: Logger
    private let stop: StopSignal
    /// What the workers watch: set when `stop` is, or when a worker could not open its capture.
    private let workerStop = StopSignal()
    private let tally = Mutex(FlaggedAddressTally())
    private let members: [Member]

    init(options: PipelineOptions, live: LiveCaptureOptions, watchLists: WatchListStore, output: AlertOutput, logger: Logger, stop: StopSignal) {
        self.options = options
        let count = max(1, options.threads)
        var live = live
        // One group per process (a second sensor on the same host has its own); one worker
        // needs none.
        if count > 1 { live.fanoutGroup = UInt16(truncatingIfNeeded: getpid()) }
        self.live = live
        var share = options.engine
        share.maxFlows = max(1, options.engine.maxFlows / count)
        share.tallyFlaggedAddresses = false
        self.share = share
        self.watchLists = watchLists
        self.output = output
        self.logger = logger
        self.stop = stop
        members = (0 ..< count).map(Member.init(number:))
    }

    private static func milliseconds(_ clock: SensorClock) -> Int64 {
        let now = clock.monotonic().components
        return now.seconds * 1_000 + now.attoseconds / 1_000_000_000_000_000
    }

    /// Runs until a stop is requested; throws if a worker's capture cannot be opened at all.
    func run(onCaptureOpen: () -> Void) throws(CaptureError) -> PipelineReport {
        for member in members {
            let thread = Thread { [self] in self.work(member) }
            thread.name = "peerwatch-capture-\(member.number)"
            thread.stackSize = 1 << 22
            thread.start()
        }
        for member in members { member.opened.wait() }
        if let failure = members.lazy.compactMap({ $0.failure.withLock { $0 } }).first {
            workerStop.request()
            for member in members { member.done.wait() }
            throw failure
        }
        logger.info("capture started", metadata: ["capture.source": "\(live.interface)", "capture.workers": "\(members.count)",
                                                  "capture.fanout_group": "\(live.fanoutGroup ?? 0)"])
        onCaptureOpen()
        var link = InterfaceLinkWatcher(interface: live.interface)
        let clock = options.clock
        var lastHousekeeping = Duration.zero
        var lastStatistics = clock.monotonic()
        while !stop.isRequested {
            Thread.sleep(forTimeInterval: Double(CaptureLoop.tickInterval) / 1_000)
            let now = Self.milliseconds(clock)
            let stalled = members.contains { now - $0.lastWake.load(ordering: .relaxed) > Self.stallLimit.components.seconds * 1_000 }
            if !stalled { options.heartbeat?() }
            let monotonic = clock.monotonic()
            guard monotonic - lastHousekeeping >= .seconds(1) else { continue }
            lastHousekeeping = monotonic
            publishMetrics()
            if monotonic - lastStatistics >= options.statisticsInterval {
                lastStatistics = monotonic
                logStatistics()
            }
            link.check(logger: logger, metrics: options.metrics)
        }
        workerStop.request()
        for member in members { member.done.wait() }
        let summed = sum()
        options.metrics?.update(summed.counters, activeFlows: 0)
        if let capture = summed.capture { options.metrics?.update(capture) }
        let end = members.map { $0.atEnd.withLock { $0 } }.reduce((0, FlowFootprint())) { ($0.0 + $1.flows, $0.1 + $1.footprint) }
        return PipelineReport(counters: summed.counters, capture: summed.capture, recordsWritten: 0, recordsDropped: 0, end: .stopped,
                              flowsAtEnd: end.0, footprint: end.1)
    }

    /// The workers' counters, flows and capture statistics, summed.
    private func sum() -> (counters: EngineCounters, flows: Int, capture: CaptureStatistics?) {
        var counters = EngineCounters()
        var flows = 0
        var capture: CaptureStatistics?
        for member in members {
            let published = member.published.withLock { $0 }
            counters.add(published.counters)
            flows += published.flows
            if let statistics = published.capture {
                var total = capture ?? CaptureStatistics()
                total.received &+= statistics.received
                total.droppedByKernel &+= statistics.droppedByKernel
                total.droppedByInterface &+= statistics.droppedByInterface
                capture = total
            }
        }
        return (counters, flows, capture)
    }

    private func publishMetrics() {
        guard let metrics = options.metrics else { return }
        let summed = sum()
        metrics.update(summed.counters, activeFlows: summed.flows)
        if let capture = summed.capture { metrics.update(capture) }
        if let socket = options.socket { metrics.update(socketReaders: socket.readerCount, socketDropped: socket.droppedLines) }
    }

    private func logStatistics() {
        let summed = sum()
        Pipeline.logStatistics(logger, counters: summed.counters, flows: summed.flows, output: output, capture: summed.capture)
    }

    /// One worker's thread: its handle, its engine, its housekeeping.
    private func work(_ member: Member) {
        let clock = options.clock
        member.lastWake.store(Self.milliseconds(clock), ordering: .relaxed)
        var (snapshot, generation) = watchLists.snapshotAndGeneration()
        var engine = DetectionEngine(configuration: share, watchList: snapshot)
        var events: [DetectionEvent] = []
        events.reserveCapacity(64)
        var loop = CaptureLoop(source: .live(live), stop: workerStop)
        var opened = false
        var lastHousekeeping = clock.monotonic()
        var capture: CaptureStatistics?
        let output = output, watchLists = watchLists, logger = logger, metrics = options.metrics, interface = live.interface
        func flush() {
            guard !events.isEmpty else { return }
            // The tally sees events in the order the output writes them.
            self.tally.withLock { tally in
                tally.apply(&events)
                output.submit(events)
            }
            events.removeAll(keepingCapacity: true)
        }
        do {
            try loop.run(onOpen: { _ in
                if !opened {
                    opened = true
                    member.opened.signal()
                }
            }, onTick: {
                member.lastWake.store(Self.milliseconds(clock), ordering: .relaxed)
                let now = clock.monotonic()
                guard now - lastHousekeeping >= .seconds(1) else { return }
                lastHousekeeping = now
                // A quiet link: wall-clock time expires idle flows.
                engine.advanceClock(to: clock.wall(), events: &events)
                flush()
                let counters = engine.counters, flows = engine.flowCount
                member.published.withLock { $0 = (counters, flows, capture) }
            }, onStatistics: { statistics in
                capture = statistics
            }, onLost: { error, retry in
                metrics?.captureInterrupted()
                logger.error("capture lost; retrying", metadata: [
                    "capture.source": "\(interface)", "capture.worker": "\(member.number)", "error": "\(error.message)",
                    "retry.seconds": "\(retry.components.seconds)",
                ])
            }, onRestored: {
                logger.notice("capture restored", metadata: ["capture.source": "\(interface)", "capture.worker": "\(member.number)"])
            }, consume: { bytes, wireLength, timestamp, link in
                if watchLists.generation != generation {
                    (snapshot, generation) = watchLists.snapshotAndGeneration()
                    engine.watchList = snapshot
                }
                engine.process(frame: bytes, wireLength: wireLength, timestamp: timestamp, link: link, events: &events)
                flush()
            })
        } catch {
            member.failure.withLock { $0 = error }
        }
        if !opened { member.opened.signal() }
        let flows = engine.flowCount, footprint = engine.footprint
        member.atEnd.withLock { $0 = (flows, footprint) }
        engine.finish(events: &events)
        flush()
        let counters = engine.counters, final = loop.finalStatistics ?? capture
        member.published.withLock { $0 = (counters, 0, final) }
        member.done.signal()
    }
}
