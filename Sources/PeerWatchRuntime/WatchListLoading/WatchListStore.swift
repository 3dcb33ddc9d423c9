import Foundation
import Logging
import PeerWatchCore
import Synchronization

/// The watch lists a running PeerWatch holds, and their reload.
///
/// A reload reads every list into a new snapshot beside the one in use and, only if all of them
/// load, swaps it in; a list that fails leaves the old snapshot in place and the log says why,
/// with file and line. The packet path sees a swap through one relaxed atomic load per packet
/// (`generation`), and takes the lock only when the generation has moved.
public final class WatchListStore: Sendable {
    /// The lists to load.
    public let specs: [WatchListSpec]
    /// The keys lists must be signed with (none: unsigned lists are accepted).
    public let keys: TrustedKeys
    private let current: Mutex<WatchListSnapshot>
    private let counter = Atomic<Int>(0)
    private let reloading = Mutex(false)
    private let listeners = Mutex<[@Sendable (WatchListSnapshot, Int) -> Void]>([])
    private let logger: Logger
    /// Where the snapshot's description is written after every load, for `watchlist stats`.
    public let stateDirectory: String?

    /// Loads the lists for the first time.
    /// - Throws: `WatchListLoadError` when any list fails: there is no old snapshot to keep.
    public init(specs: [WatchListSpec], keys: TrustedKeys = .none, stateDirectory: String? = nil, logger: Logger) throws(WatchListLoadError) {
        self.specs = specs
        self.keys = keys
        self.logger = logger
        self.stateDirectory = stateDirectory
        let start = Date()
        let snapshot = try WatchListLoader.load(specs, keys: keys)
        current = Mutex(snapshot)
        report(snapshot, seconds: Date().timeIntervalSince(start), reload: false)
    }

    /// A store over an already built snapshot (tests, tools).
    public init(snapshot: WatchListSnapshot, specs: [WatchListSpec] = [], logger: Logger) {
        self.specs = specs
        keys = .none
        self.logger = logger
        stateDirectory = nil
        current = Mutex(snapshot)
    }

    /// Bumped by every successful reload.
    public var generation: Int { counter.load(ordering: .relaxed) }

    /// The snapshot in use.
    public var snapshot: WatchListSnapshot { current.withLock { $0 } }

    /// The snapshot in use and its generation, read together.
    public func snapshotAndGeneration() -> (WatchListSnapshot, Int) {
        current.withLock { ($0, counter.load(ordering: .acquiring)) }
    }

    /// Reads the lists again; swaps the new snapshot in only if all of them load.
    /// - Returns: the problems, empty on success.
    @discardableResult
    public func reload() -> [ConfigurationError] {
        let alreadyRunning = reloading.withLock { running -> Bool in
            if running { return true }
            running = true
            return false
        }
        if alreadyRunning {
            logger.notice("watch list reload already in progress")
            return []
        }
        defer { reloading.withLock { $0 = false } }
        let start = Date()
        do {
            let snapshot = try WatchListLoader.load(specs, keys: keys)
            replace(with: snapshot)
            report(snapshot, seconds: Date().timeIntervalSince(start), reload: true)
            return []
        } catch {
            for problem in error.problems {
                logger.error("watch list refused; keeping the lists in use", metadata: [
                    "watchlist.file": "\(problem.file)", "watchlist.line": "\(problem.line.map(String.init) ?? "-")", "error": "\(problem.message)",
                ])
            }
            return error.problems
        }
    }

    /// Swaps in a snapshot built elsewhere.
    public func replace(with snapshot: WatchListSnapshot) {
        let generation = current.withLock { held -> Int in
            held = snapshot
            return counter.add(1, ordering: .releasing).newValue
        }
        for listener in listeners.withLock({ $0 }) { listener(snapshot, generation) }
    }

    /// Calls `listener` with the snapshot in use now and with every one swapped in later
    /// (metrics publish through this).
    public func onSnapshot(_ listener: @escaping @Sendable (WatchListSnapshot, Int) -> Void) {
        listeners.withLock { $0.append(listener) }
        let (snapshot, generation) = snapshotAndGeneration()
        listener(snapshot, generation)
    }

    private func report(_ snapshot: WatchListSnapshot, seconds: Double, reload: Bool) {
        for (index, source) in snapshot.sources.enumerated() {
            let kinds = snapshot.loadedCounts[index].map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
            logger.info(reload ? "watch list reloaded" : "watch list loaded", metadata: [
                "watchlist.name": "\(source.name)", "watchlist.file": "\(source.path)", "watchlist.format": "\(source.format)",
                "watchlist.sha256": "\(source.sha256)", "watchlist.entries": "\(kinds)", "watchlist.signer": "\(source.signer ?? "-")",
            ])
        }
        let kinds = snapshot.countsByKind.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        logger.info("watch lists ready", metadata: [
            "watchlist.entries": "\(snapshot.count)", "watchlist.kinds": "\(kinds)", "watchlist.duplicates": "\(snapshot.duplicates)",
            "watchlist.load_seconds": "\(String(format: "%.3f", seconds))",
        ])
        if let stateDirectory { writeState(snapshot, to: stateDirectory) }
    }

    /// Writes `watchlist.json` describing the snapshot, atomically.
    private func writeState(_ snapshot: WatchListSnapshot, to directory: String) {
        let description = Self.describe(snapshot, generation: generation)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let data = try JSONSerialization.data(withJSONObject: description, options: [.prettyPrinted, .sortedKeys])
            // Readable by the service and its group only: it names the lists an ISP holds.
            let path = URL(fileURLWithPath: directory).appendingPathComponent("watchlist.json").path
            let temporary = path + ".tmp"
            guard FileManager.default.createFile(atPath: temporary, contents: data, attributes: [.posixPermissions: 0o640]) else {
                throw CaptureError("\(temporary): \(String(cString: strerror(errno)))")
            }
            chmod(temporary, 0o640)
            guard rename(temporary, path) == 0 else { throw CaptureError("\(path): \(String(cString: strerror(errno)))") }
        } catch {
            logger.warning("cannot write the watch-list state file", metadata: ["state.directory": "\(directory)", "error": "\(error)"])
        }
    }

    /// A JSON-ready description of a snapshot.
    public static func describe(_ snapshot: WatchListSnapshot, generation: Int) -> [String: Any] {
        [
            "generation": generation,
            "loaded_at": ISO8601DateFormatter().string(from: Date()),
            "entries": snapshot.count,
            "duplicates": snapshot.duplicates,
            "index_bytes": snapshot.indexBytes,
            "kinds": Dictionary(uniqueKeysWithValues: snapshot.countsByKind.map { ($0.key.description, $0.value) }),
            "lists": snapshot.sources.enumerated().map { index, source -> [String: Any] in
                var list: [String: Any] = [
                    "name": source.name, "path": source.path, "format": source.format, "sha256": source.sha256,
                    "entries": Dictionary(uniqueKeysWithValues: snapshot.loadedCounts[index].map { ($0.key.description, $0.value) }),
                ]
                if let signer = source.signer { list["signer"] = signer }
                return list
            },
        ]
    }
}
