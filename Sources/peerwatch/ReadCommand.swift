import ArgumentParser
import Foundation
import PeerWatchRuntime

/// `peerwatch read`: runs detection over capture files and prints alert records.
struct ReadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Read pcap or pcapng files and print alert records as JSON lines.",
        discussion: """
            Files are read one after another as one capture. Every match and flow_end record \
            goes to standard output (and to --log if given); diagnostics go to standard error. \
            Exit status: 0 when the files were read, 1 when a file or watch list could not be.
            """
    )

    @Argument(help: ArgumentHelp("Capture files (pcap or pcapng).", valueName: "file"))
    var files: [String]

    @OptionGroup var detection: DetectionOptions

    @Flag(name: .customLong("quiet"), help: "Do not print records on standard output (use with --log).")
    var quiet = false

    func validate() throws {
        guard !detection.watchLists.isEmpty else { throw ValidationError("Give at least one --watchlist file.") }
    }

    func run() throws {
        let settings = detection.resolved(with: PeerWatchConfiguration())
        let logger = settings.makeLogger()
        let watchLists = try settings.loadWatchLists(logger: logger)
        var options = PipelineOptions(source: .files(files), sensorName: settings.sensorName)
        options.engine = settings.engineConfiguration()
        options.logPath = settings.logPath
        options.writeToStandardOutput = !quiet
        let stop = StopSignal()
        stop.installHandlers()
        do {
            let report = try Pipeline(options: options, watchLists: watchLists, logger: logger).run(stop: stop)
            logSummary(report, logger: logger)
        } catch {
            FileHandle.standardError.write(Data("peerwatch: \(error.description)\n".utf8))
            throw ExitCode.failure
        }
    }
}
