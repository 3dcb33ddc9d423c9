import ArgumentParser
import Foundation
import Logging
import PeerWatchRuntime
import Synchronization

/// `peerwatch run`: captures live from an interface until SIGINT or SIGTERM.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Capture live from an interface and write alert records to the log.",
        discussion: """
            Runs until SIGINT or SIGTERM, then writes every pending record, ends open flagged \
            flows with flow_end records, logs libpcap's drop counters and exits 0.
            """
    )

    @Option(name: .customLong("config"), help: ArgumentHelp("A YAML configuration file (see systemd/peerwatch.yaml); flags given here override it.", valueName: "file"))
    var configPath: String?

    @Option(name: .customLong("interface"), help: ArgumentHelp("The interface to capture on.", valueName: "name"))
    var interface: String?

    @OptionGroup var detection: DetectionOptions

    @Option(name: .customLong("bpf"), help: ArgumentHelp("A BPF filter expression.", valueName: "filter"))
    var filter: String?

    @Option(name: .customLong("snaplen"), help: ArgumentHelp("Bytes kept of each packet (default 65535).", valueName: "bytes"))
    var snapshotLength: Int?

    @Option(name: .customLong("buffer-size"), help: ArgumentHelp("Kernel capture buffer size in MiB (default 64).", valueName: "mib"))
    var bufferMiB: Int?

    @Flag(name: .customLong("no-promiscuous"), help: "Do not put the interface in promiscuous mode.")
    var noPromiscuous = false

    @Flag(name: .customLong("stdout"), help: "Also print records on standard output.")
    var standardOutput = false

    @Option(name: .customLong("socket"), help: ArgumentHelp("Serve alerts as JSON lines on this Unix socket ('peerwatch tail' reads it).", valueName: "path"))
    var socketPath: String?

    @Option(name: .customLong("socket-mode"), help: ArgumentHelp("The socket's file mode, in octal (default 0660).", valueName: "mode"))
    var socketMode: String?

    @Option(name: .customLong("socket-group"), help: ArgumentHelp("The group that may read alerts from the socket.", valueName: "group"))
    var socketGroup: String?

    @Option(name: .customLong("stats-interval"), help: ArgumentHelp("Seconds between statistics lines in the log (default 60).", valueName: "seconds"))
    var statisticsInterval: Int?

    @Option(name: .customLong("socket-max-readers"), help: ArgumentHelp("Readers served at once on the alert socket; more are told so and closed (default 256).", valueName: "count"))
    var socketMaxReaders: Int?

    @Option(name: .customLong("max-alerts-per-second"), help: ArgumentHelp("The guard on alert volume: records a second on average (bursts of 20 times more); the excess is counted and reported in 'suppressed' records. 0: no limit (default 1000).", valueName: "count"))
    var maxAlertsPerSecond: Int?

    @Option(name: .customLong("metrics"), help: ArgumentHelp("Serve Prometheus metrics on this local address (HOST:PORT), or 'off' (default 127.0.0.1:9750).", valueName: "address"))
    var metricsAddress: String?

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Where the alert chain's head and the description of the loaded watch lists are kept (default /var/lib/peerwatch).", valueName: "dir"))
    var stateDirectory: String?

    @Option(name: .customLong("user"), help: ArgumentHelp("When started as root, become this user before opening any file, keeping only CAP_NET_RAW and CAP_NET_ADMIN.", valueName: "name"))
    var user: String?

    func validate() throws {
        if configPath == nil {
            guard interface != nil else { throw ValidationError("Give --interface (or --config FILE with capture.interface).") }
            guard !detection.watchLists.isEmpty else { throw ValidationError("Give at least one --watchlist file.") }
            guard detection.logPath != nil || standardOutput || socketPath != nil else {
                throw ValidationError("Give --log FILE (or --socket PATH, or --stdout) so that alerts go somewhere.")
            }
        }
        if let statisticsInterval, !(1 ... 86_400).contains(statisticsInterval) { throw ValidationError("--stats-interval must be between 1 and 86400 seconds.") }
        if let socketMaxReaders, !(1 ... 100_000).contains(socketMaxReaders) { throw ValidationError("--socket-max-readers must be between 1 and 100000.") }
        if let snapshotLength, !(64 ... 262_144).contains(snapshotLength) { throw ValidationError("--snaplen must be between 64 and 262144.") }
        if let bufferMiB, !(1 ... 4_096).contains(bufferMiB) { throw ValidationError("--buffer-size must be between 1 and 4096 MiB.") }
        if let socketMode, mode_t(socketMode, radix: 8).map({ $0 > 0o777 }) ?? true {
            throw ValidationError("--socket-mode \(socketMode): expected an octal mode such as 0660")
        }
    }

    func run() throws {
        var file = PeerWatchConfiguration()
        if let configPath {
            do {
                file = try PeerWatchConfiguration.load(path: configPath)
            } catch {
                FileHandle.standardError.write(Data("peerwatch: configuration refused: \(error.description)\n".utf8))
                throw ExitCode.failure
            }
        }
        let settings = detection.resolved(with: file)
        guard let interface = interface ?? file.interface else {
            throw ValidationError("Give --interface (or capture.interface in \(configPath ?? "the configuration")).")
        }
        guard !settings.watchLists.isEmpty else { throw ValidationError("Give at least one --watchlist (or watchlists in the configuration).") }
        let socketPath = self.socketPath ?? file.socketPath
        guard settings.logPath != nil || standardOutput || socketPath != nil else {
            throw ValidationError("Give --log FILE (or --socket PATH, or --stdout) so that alerts go somewhere.")
        }
        let socketMode = self.socketMode ?? file.socketMode ?? "0660"
        let socketGroup = self.socketGroup ?? file.socketGroup
        let metricsAddress = self.metricsAddress ?? file.metrics ?? "127.0.0.1:9750"
        let stateDirectory = self.stateDirectory ?? file.stateDirectory ?? "/var/lib/peerwatch"
        let maxAlertsPerSecond = self.maxAlertsPerSecond ?? file.maxAlertsPerSecond ?? 1_000
        let logger = settings.makeLogger()
        if let configPath { logger.info("configuration loaded", metadata: ["config.file": "\(configPath)"]) }
        try giveUpRoot(user: user ?? file.user, logger: logger)
        let watchLists = try settings.loadWatchLists(logger: logger, stateDirectory: stateDirectory)
        var live = LiveCaptureOptions(interface: interface)
        live.filter = filter ?? file.bpf
        live.snapshotLength = snapshotLength ?? file.snaplen ?? 65_535
        live.bufferSize = (bufferMiB ?? file.bufferMiB ?? 64) * 1024 * 1024
        live.promiscuous = noPromiscuous ? false : file.promiscuous ?? true
        var options = PipelineOptions(source: .live(live), sensorName: settings.sensorName)
        options.engine = settings.engineConfiguration()
        // Drawn at start, so that nobody can craft flows that collide in the flow table.
        options.engine.flowHashSeed = UInt64.random(in: .min ... .max)
        options.threads = settings.threads
        options.logPath = settings.logPath
        options.stateDirectory = stateDirectory
        options.statisticsInterval = .seconds(statisticsInterval ?? file.statisticsInterval ?? 60)
        options.writeToStandardOutput = standardOutput
        if maxAlertsPerSecond > 0 {
            options.volumeLimit = AlertOutput.VolumeLimit(perSecond: maxAlertsPerSecond, burst: maxAlertsPerSecond * 20)
        }
        let metrics = PeerWatchMetrics()
        options.metrics = metrics
        watchLists.onSnapshot { snapshot, generation in metrics.publish(snapshot, generation: generation) }
        var server: MetricsServer?
        if metricsAddress != "off" {
            guard let (host, port) = MetricsServer.split(metricsAddress) else { throw ValidationError("--metrics \(metricsAddress): expected HOST:PORT or off") }
            do {
                server = try MetricsServer(host: host, port: port, metrics: metrics, logger: logger)
                logger.info("metrics served", metadata: ["metrics.address": "\(host):\(server?.port ?? port)"])
            } catch {
                FileHandle.standardError.write(Data("peerwatch: \(error.description)\n".utf8))
                throw ExitCode.failure
            }
        }
        defer { server?.stop() }
        if let socketPath {
            do {
                options.socket = try AlertSocket(path: socketPath, mode: mode_t(socketMode, radix: 8) ?? 0o660, group: socketGroup,
                                                 maxReaders: socketMaxReaders ?? file.socketMaxReaders ?? AlertSocket.defaultMaxReaders, logger: logger)
                logger.info("alert socket ready", metadata: ["socket.path": "\(socketPath)"])
            } catch {
                FileHandle.standardError.write(Data("peerwatch: \(error.description)\n".utf8))
                throw ExitCode.failure
            }
        }
        defer { options.socket?.close() }
        // systemd: READY once capturing, a watchdog fed by the capture thread, reload and stop.
        let notifier = SystemdNotifier()
        options.heartbeat = { notifier.heartbeat() }
        let rate = Mutex((at: ContinuousClock.now, packets: 0))
        let status: @Sendable () -> String = {
            let (packets, drops, alerts) = metrics.summary()
            let perSecond = rate.withLock { last -> Int in
                let now = ContinuousClock.now
                let seconds = Double((now - last.at).components.seconds) + Double((now - last.at).components.attoseconds) / 1e18
                defer { last = (now, packets) }
                return seconds > 0 ? Int(Double(packets - last.packets) / seconds) : 0
            }
            return "capturing on \(interface): \(perSecond) packets/s, \(packets) packets, \(drops) kernel drops, \(alerts) alerts"
        }
        let pipeline = Pipeline(options: options, watchLists: watchLists, logger: logger)
        let log = pipeline.logReopener
        let stop = StopSignal()
        stop.installHandlers { number in
            notifier.stopping()
            logger.notice("stopping", metadata: ["signal": "\(number == SIGTERM ? "SIGTERM" : "SIGINT")"])
        }
        // SIGHUP: reopen the alert log (rotation) and read the watch lists again beside the
        // ones in use, swapping only if they all load.
        let reloads = DispatchQueue(label: "peerwatch-reload")
        stop.installHandlers([SIGHUP], stops: false) { _ in
            reloads.async {
                notifier.reloading()
                logger.notice("reopening the log and reloading watch lists", metadata: ["signal": "SIGHUP"])
                log.reopen()
                watchLists.reload()
                notifier.ready(status: status())
            }
        }
        do {
            let report = try pipeline.run(stop: stop, onCaptureOpen: {
                notifier.heartbeat()
                notifier.ready(status: status())
                notifier.startWatchdog(status: status)
            })
            notifier.stopWatchdog()
            logSummary(report, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("peerwatch: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }

    /// Started as root with a user configured: become it now, before the watch lists, state,
    /// socket and log are touched, so that no file is written as root. Capture keeps working
    /// through the two capabilities kept (also across a reopen after the interface returns).
    private func giveUpRoot(user: String?, logger: Logger) throws {
        guard let user else {
            if Privileges.isRoot {
                logger.warning("running as root; give --user (or user in the configuration) to drop privileges")
            }
            return
        }
        do throws(PrivilegeError) {
            let account = try Privileges.account(named: user)
            if Privileges.isRoot {
                try Privileges.become(account)
                logger.info("privileges dropped", metadata: ["user": "\(account.name)", "uid": "\(account.uid)", "gid": "\(account.gid)",
                                                            "capabilities": "CAP_NET_RAW CAP_NET_ADMIN"])
            } else if geteuid() != account.uid {
                throw PrivilegeError(message: "running as uid \(geteuid()), not as \(user), and only root can change user")
            }
        } catch {
            FileHandle.standardError.write(Data("peerwatch: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
