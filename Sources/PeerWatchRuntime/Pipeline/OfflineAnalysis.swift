import PeerWatchCore

/// Runs the engine over capture files in the calling thread and returns its events: the
/// offline path without output sinks, for tests, conformance checks and the benchmark.
public enum OfflineAnalysis {
    /// The events and counters of one analysis.
    public struct Result: Sendable {
        /// Alerts and flow records in capture order (flow records of flows still open at the
        /// end come last).
        public var events: [DetectionEvent]
        /// The engine's counters.
        public var counters: EngineCounters

        /// Just the `match` alerts.
        public var matches: [MatchAlert] {
            events.compactMap { if case .match(let alert) = $0 { alert } else { nil } }
        }

        /// Just the `flow_end` records.
        public var flowEnds: [FlowSummary] {
            events.compactMap { if case .flowEnd(let summary) = $0 { summary } else { nil } }
        }
    }

    /// Reads `paths` one after another through one engine, or `threads` workers.
    public static func run(
        paths: [String], watchList: WatchListSnapshot, configuration: EngineConfiguration = EngineConfiguration(), threads: Int = 1
    ) throws(CaptureError) -> Result {
        try CaptureLoop.validate(files: paths)
        if paths.allSatisfy(PcapHandle.isRegularFile) {
            let read = DispatchedRead(paths: paths, threads: threads, configuration: configuration,
                                      watchLists: WatchListStore(snapshot: watchList, logger: .init(label: "offline")), stop: nil)
            var events: [DetectionEvent] = []
            let outcome = read.run(onOpen: { _ in }, onTick: {}, submit: { events += $0 })
            if let failure = outcome.failure { throw failure }
            return Result(events: events, counters: read.counters)
        }
        var engine = DetectionEngine(configuration: configuration, watchList: watchList)
        var events: [DetectionEvent] = []
        var loop = CaptureLoop(source: .files(paths), stop: nil)
        try loop.run { bytes, wireLength, timestamp, link in
            engine.process(frame: bytes, wireLength: wireLength, timestamp: timestamp, link: link, events: &events)
        }
        engine.finish(events: &events)
        return Result(events: events, counters: engine.counters)
    }
}
