import PeerWatchCore

/// Runs frames through a detection engine for tests: the events, in order, after `finish`.
public enum EngineHarness {
    /// A snapshot listing `ids` in one list named "test".
    public static func watchList(_ ids: [ContentID], label: String? = nil) -> WatchListSnapshot {
        WatchListSnapshot(sources: [WatchListSource(name: "test", path: "test.txt", sha256: String(repeating: "0", count: 64))],
                          entries: ids.enumerated().map { WatchListEntry(id: $1, sourceIndex: 0, label: label, category: nil, line: $0 + 1) })
    }

    /// Every event `frames` raise against `watchList`, the flows ended at the close.
    public static func run(_ frames: [Frame], watchList: WatchListSnapshot, configuration: EngineConfiguration = EngineConfiguration(),
                           link: LinkType = .ethernet) -> [DetectionEvent] {
        var engine = DetectionEngine(configuration: configuration, watchList: watchList)
        var events: [DetectionEvent] = []
        for frame in frames {
            frame.bytes.withUnsafeBytes { engine.process(frame: $0, wireLength: frame.wireLength, timestamp: frame.timestamp, link: link, events: &events) }
        }
        engine.finish(events: &events)
        return events
    }

    /// The `match` alerts among `events`.
    public static func matches(_ events: [DetectionEvent]) -> [MatchAlert] {
        events.compactMap { if case .match(let alert) = $0 { alert } else { nil } }
    }

    /// The `flow_end` records among `events`.
    public static func flowEnds(_ events: [DetectionEvent]) -> [FlowSummary] {
        events.compactMap { if case .flowEnd(let summary) = $0 { summary } else { nil } }
    }
}
