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

    @Option(name: .customLong("max-flows"), help: ArgumentHelp("The most flows tracked at once, shared among the workers (default 1048576).", valueName: "count"))
    var maxFlows: Int?

    @Option(name: .customLong("threads"), help: ArgumentHelp("Worker threads, each keeping its share of the flows (default: the number of cores).", valueName: "count"))
    var threads: Int?

    @Option(name: .customLong("flow-timeout"), help: ArgumentHelp("Idle seconds before a flow ends, as KIND=SECONDS for tcp (600), tcp_closed (30, after FIN or RST) or udp (120); repeat for several.", valueName: "kind=seconds"))
    var flowTimeouts: [String] = []

    @Option(name: .customLong("vxlan-port"), help: ArgumentHelp("A UDP port VXLAN arrives on (default 4789); repeat for several, up to four.", valueName: "port"))
    var vxlanPorts: [UInt16] = []

    @Option(name: .customLong("geneve-port"), help: ArgumentHelp("A UDP port Geneve arrives on (default 6081); repeat for several, up to four.", valueName: "port"))
    var genevePorts: [UInt16] = []

    @Option(name: .customLong("gtpu-port"), help: ArgumentHelp("A UDP port GTP-U arrives on (default 2152); repeat for several, up to four.", valueName: "port"))
    var gtpuPorts: [UInt16] = []

    @Flag(name: .customLong("no-vlan-tracking"), help: "Track flows by their addresses and ports alone, not by VLAN id too (for taps whose two directions arrive on different VLANs).")
    var noVLANTracking = false

    @Option(name: .customLong("log-level"), help: ArgumentHelp("Diagnostics on standard error: trace, debug, info (the default), notice, warning, error, critical.", valueName: "level"))
    var logLevel: String?

    func validate() throws {
        for block in homeNetworks where IPNetwork(block) == nil {
            throw ValidationError("--home-net \(block): not an address block such as 192.0.2.0/24 or 2001:db8::/32")
        }
        if let maxFlows, maxFlows <= 0 { throw ValidationError("--max-flows must be positive.") }
        if let threads, !(1 ... PeerWatchConfiguration.maxThreads).contains(threads) {
            throw ValidationError("--threads must be between 1 and \(PeerWatchConfiguration.maxThreads).")
        }
        for (name, ports) in [("--vxlan-port", vxlanPorts), ("--geneve-port", genevePorts), ("--gtpu-port", gtpuPorts)] {
            if ports.contains(0) { throw ValidationError("\(name) must be between 1 and 65535.") }
            if ports.count > PortSet.capacity { throw ValidationError("\(name) may be given at most \(PortSet.capacity) times.") }
        }
        if let logLevel, Logger.Level(rawValue: logLevel) == nil { throw ValidationError("--log-level \(logLevel): unknown level") }
        _ = try Self.parseFlowTimeouts(flowTimeouts)
    }

    /// `KIND=SECONDS` pairs as a dictionary.
    static func parseFlowTimeouts(_ pairs: [String]) throws -> [String: Int] {
        var timeouts: [String: Int] = [:]
        for pair in pairs {
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, PeerWatchConfiguration.flowTimeoutKeys.contains(parts[0]), let seconds = Int(parts[1]), (1 ... 86_400).contains(seconds) else {
                throw ValidationError("--flow-timeout \(pair): expected KIND=SECONDS with KIND one of \(PeerWatchConfiguration.flowTimeoutKeys.joined(separator: ", ")) and 1 to 86400 seconds")
            }
            timeouts[parts[0]] = seconds
        }
        return timeouts
    }

    /// These options over a configuration file's: a flag given wins, then the file, then the
    /// built-in default.
    func resolved(with file: PeerWatchConfiguration) -> Resolved {
        Resolved(
            watchLists: watchLists.isEmpty ? file.watchLists ?? [] : watchLists.map(WatchListSpec.init(parsing:)),
            keys: watchListKeys.isEmpty ? file.watchListKeys ?? [] : watchListKeys,
            logPath: logPath ?? file.log,
            homeNetworks: (homeNetworks.isEmpty ? file.homeNetworks ?? [] : homeNetworks).compactMap { IPNetwork($0) },
            sensorName: sensorName ?? file.sensor ?? ProcessInfo.processInfo.hostName,
            maxFlows: maxFlows ?? file.maxFlows ?? EngineConfiguration().maxFlows,
            threads: threads ?? file.threads ?? min(PeerWatchConfiguration.maxThreads, max(1, ProcessInfo.processInfo.activeProcessorCount)),
            flowTimeouts: file.flowTimeouts.merging((try? Self.parseFlowTimeouts(flowTimeouts)) ?? [:]) { $1 },
            logLevel: Logger.Level(rawValue: logLevel ?? file.logLevel ?? "info") ?? .info,
            carriers: carrierOptions(with: file)
        )
    }

    /// The carrier options: flags over the file's `carriers` section over the defaults.
    private func carrierOptions(with file: PeerWatchConfiguration) -> CarrierOptions {
        var options = file.carriers ?? CarrierOptions()
        if !vxlanPorts.isEmpty { options.vxlanPorts = PortSet(vxlanPorts) }
        if !genevePorts.isEmpty { options.genevePorts = PortSet(genevePorts) }
        if !gtpuPorts.isEmpty { options.gtpuPorts = PortSet(gtpuPorts) }
        if noVLANTracking { options.vlanTracking = false }
        return options
    }

    /// The detection settings in force.
    struct Resolved {
        var watchLists: [WatchListSpec]
        var keys: [String]
        var logPath: String?
        var homeNetworks: [IPNetwork]
        var sensorName: String
        var maxFlows: Int
        /// Worker threads.
        var threads: Int
        var flowTimeouts: [String: Int]
        var logLevel: Logger.Level
        var carriers: CarrierOptions

        func makeLogger() -> Logger {
            var logger = Logger(label: "peerwatch") { label in StreamLogHandler.standardError(label: label) }
            logger.logLevel = logLevel
            return logger
        }

        func engineConfiguration() -> EngineConfiguration {
            var configuration = EngineConfiguration()
            configuration.maxFlows = maxFlows
            if let tcp = flowTimeouts["tcp"] { configuration.tcpIdleTimeout = Int64(tcp) }
            if let closed = flowTimeouts["tcp_closed"] { configuration.tcpClosedTimeout = Int64(closed) }
            if let udp = flowTimeouts["udp"] { configuration.udpIdleTimeout = Int64(udp) }
            configuration.homeNetworks = homeNetworks
            configuration.carriers = carriers
            return configuration
        }

        /// Loads the watch lists, or prints every problem and fails.
        func loadWatchLists(logger: Logger, stateDirectory: String? = nil) throws -> WatchListStore {
            let trusted: TrustedKeys
            do {
                trusted = try TrustedKeys.load(paths: keys)
            } catch {
                FileHandle.standardError.write(Data("peerwatch: \(error.description)\n".utf8))
                throw ExitCode.failure
            }
            do {
                return try WatchListStore(specs: watchLists, keys: trusted, stateDirectory: stateDirectory, logger: logger)
            } catch {
                FileHandle.standardError.write(Data("peerwatch: watch list refused:\n\(error.description)\n".utf8))
                throw ExitCode.failure
            }
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
    let carriers = CarrierKind.allCases.filter { c.carrierPackets($0) > 0 }.map { "\($0)=\(c.carrierPackets($0))" }.joined(separator: " ")
    if !carriers.isEmpty { metadata["packets.carriers"] = "\(carriers)" }
    let fragments = FragmentOutcome.allCases.filter { c.fragments($0) > 0 }.map { "\($0)=\(c.fragments($0))" }.joined(separator: " ")
    if !fragments.isEmpty { metadata["fragments"] = "\(fragments)" }
    let anomalies = Anomaly.allCases.filter { c.anomalies($0) > 0 }.map { "\($0)=\(c.anomalies($0))" }.joined(separator: " ")
    if !anomalies.isEmpty { metadata["anomalies"] = "\(anomalies)" }
    if let capture = report.capture {
        metadata["capture.received"] = "\(capture.received)"
        metadata["capture.dropped.kernel"] = "\(capture.droppedByKernel)"
        metadata["capture.dropped.interface"] = "\(capture.droppedByInterface)"
    }
    logger.info("finished", metadata: metadata)
}
