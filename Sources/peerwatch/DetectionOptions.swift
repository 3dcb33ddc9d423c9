import ArgumentParser
import Foundation
import Logging
import PeerWatchCore
import PeerWatchRuntime

/// Options shared by `read` and `run`: the watch lists, the log and what records say.
struct DetectionOptions: ParsableArguments {
    @Option(name: .customLong("watchlist"), help: ArgumentHelp("A watch list as [NAME=][FORMAT:]PATH; repeat for several. Formats: native, csv, magnet, ed2k, torrent, torrent+pieces, vics, md5, sha1.", valueName: "list"))
    var watchLists: [String] = []

    @Option(name: .customLong("watchlist-key"), help: ArgumentHelp("An Ed25519 public key lists must be signed with (PATH.sig); repeat for several.", valueName: "file"))
    var watchListKeys: [String] = []

    @Option(name: .customLong("log"), help: ArgumentHelp("Append alert records to this file (JSON lines, chained).", valueName: "file"))
    var logPath: String?

    @Option(name: .customLong("home-net"), help: ArgumentHelp("A subscriber address block, such as 192.0.2.0/24; repeat for several.", valueName: "cidr"))
    var homeNetworks: [String] = []

    @Option(name: .customLong("sensor"), help: ArgumentHelp("The sensor name written in records (default: the host name).", valueName: "name"))
    var sensorName: String?

    @Option(name: .customLong("max-flows"), help: ArgumentHelp("The most flows tracked at once.", valueName: "count"))
    var maxFlows: Int = EngineConfiguration().maxFlows

    @Option(name: .customLong("log-level"), help: ArgumentHelp("Diagnostics on standard error: trace, debug, info, notice, warning, error, critical.", valueName: "level"))
    var logLevel: String = "info"

    func validate() throws {
        guard !watchLists.isEmpty else { throw ValidationError("Give at least one --watchlist file.") }
        for block in homeNetworks where IPNetwork(block) == nil {
            throw ValidationError("--home-net \(block): not an address block such as 192.0.2.0/24 or 2001:db8::/32")
        }
        guard maxFlows > 0 else { throw ValidationError("--max-flows must be positive.") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("--log-level \(logLevel): unknown level") }
    }

    func makeLogger() -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        var logger = Logger(label: "peerwatch") { label in StreamLogHandler.standardError(label: label) }
        logger.logLevel = level
        return logger
    }

    func engineConfiguration() -> EngineConfiguration {
        var configuration = EngineConfiguration()
        configuration.maxFlows = maxFlows
        configuration.homeNetworks = homeNetworks.compactMap { IPNetwork($0) }
        return configuration
    }

    var resolvedSensorName: String {
        sensorName ?? ProcessInfo.processInfo.hostName
    }

    /// Loads the watch lists, or prints every problem and fails.
    func loadWatchLists(logger: Logger, stateDirectory: String? = nil) throws -> WatchListStore {
        let keys: TrustedKeys
        do {
            keys = try TrustedKeys.load(paths: watchListKeys)
        } catch {
            FileHandle.standardError.write(Data("peerwatch: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
        do {
            return try WatchListStore(specs: watchLists.map(WatchListSpec.init(parsing:)), keys: keys, stateDirectory: stateDirectory, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("peerwatch: watch list refused:\n\(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}

/// Writes a run's closing summary to the log.
func logSummary(_ report: PipelineReport, logger: Logger) {
    let c = report.counters
    let skipped = PacketSkipReason.allCases.filter { c.skipped($0) > 0 }.map { "\($0)=\(c.skipped($0))" }.joined(separator: " ")
    var metadata: Logger.Metadata = [
        "packets": "\(c.packets)", "bytes": "\(c.bytes)", "packets.decoded": "\(c.decodedPackets)",
        "flows": "\(c.flowsCreated)", "flows.p2p": "\(c.p2pFlows.reduce(0, +))",
        "observations": "\(c.observations)", "alerts": "\(c.matches)",
        "flows.likely_encrypted_bittorrent": "\(c.likelyEncryptedBitTorrentFlows)",
        "records.written": "\(report.recordsWritten)", "records.dropped": "\(report.recordsDropped)",
    ]
    if !skipped.isEmpty { metadata["packets.skipped"] = "\(skipped)" }
    if let capture = report.capture {
        metadata["capture.received"] = "\(capture.received)"
        metadata["capture.dropped.kernel"] = "\(capture.droppedByKernel)"
        metadata["capture.dropped.interface"] = "\(capture.droppedByInterface)"
    }
    logger.info("finished", metadata: metadata)
}
