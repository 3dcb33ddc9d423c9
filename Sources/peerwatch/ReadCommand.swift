import ArgumentParser
import Foundation
import PeerWatchRuntime

/// `peerwatch read`: runs detection over capture files and prints alert records.
struct ReadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Read pcap or pcapng files and print alert records as JSON lines.",
        discussion: """
            Files are read one after another as one capture: regular files, FIFOs, pipes, or - \
            for standard input. Every record goes to standard output (and to --log if given); \
            diagnostics go to standard error. SIGINT or SIGTERM stops the reading within a \
            second; the records so far are written and the log is closed. Exit status: 0 when \
            every file was read to its end, 1 when a file or watch list could not be read, 130 \
            when SIGINT and 143 when SIGTERM stopped it early.
            """
    )

    @Argument(help: ArgumentHelp("Capture files (pcap or pcapng), FIFOs, or - for standard input.", valueName: "file"))
    var files: [String]

    @OptionGroup var detection: DetectionOptions

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Keep the alert chain's head here, as run does, so that --log's chain goes on across runs even when the log is rotated away.", valueName: "dir"))
    var stateDirectory: String?

    @Flag(name: .customLong("quiet"), help: "Do not print records on standard output (use with --log).")
    var quiet = false

    func validate() throws {
        guard !detection.watchLists.isEmpty else { throw ValidationError("Give at least one --watchlist file.") }
        guard files.filter({ $0 == "-" }).count <= 1 else { throw ValidationError("Standard input (-) can be read only once.") }
    }

    func run() throws {
        let settings = detection.resolved(with: PeerWatchConfiguration())
        let logger = settings.makeLogger()
        let watchLists = try settings.loadWatchLists(logger: logger)
        var options = PipelineOptions(source: .files(files), sensorName: settings.sensorName)
        options.engine = settings.engineConfiguration()
        // A fixed flow-hash seed: reading the same capture twice gives the same records, also
        // when a full table evicts (a live sensor draws its seed at start).
        options.threads = settings.threads
        options.logPath = settings.logPath
        options.stateDirectory = stateDirectory
        options.writeToStandardOutput = !quiet
        let stop = StopSignal()
        stop.installHandlers()
        let report: PipelineReport
        do {
            report = try Pipeline(options: options, watchLists: watchLists, logger: logger).run(stop: stop)
        } catch {
            FileHandle.standardError.write(Data("peerwatch: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
        logSummary(report, logger: logger)
        if report.end == .stopped {
            let signal = stop.requestingSignal
            let name = signal == SIGTERM ? "SIGTERM" : "SIGINT"
            FileHandle.standardError.write(Data("peerwatch: interrupted by \(name) after \(report.counters.packets) packets: the capture was not read to its end\n".utf8))
            throw ExitCode(128 + (signal == SIGTERM ? SIGTERM : SIGINT))
        }
    }
}
