import ArgumentParser
import Foundation
import PeerWatchRuntime

/// `peerwatch verify`: checks that alert logs form one whole chain.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check alert logs as one chain: no record removed, reordered, altered or added.",
        discussion: """
            The logs (plain or gzip-compressed, as logrotate leaves them) are taken in the order \
            of their first records and checked as one chain: every byte of every record, each \
            record's link to the one before, that each file starts with its log_open record and \
            that the last one ends with a log_close. A log PeerWatch is still writing is checked \
            against the chain head in the state directory. Every problem is named by file and \
            line. Exit status: 0 when the chain is whole, 1 when it is not, 2 when a log cannot \
            be read.
            """
    )

    @Argument(help: ArgumentHelp("Alert logs written by peerwatch, in any order.", valueName: "log"))
    var logs: [String]

    @Option(name: .customLong("state-dir"), help: ArgumentHelp("The state directory of the PeerWatch writing the logs, for its chain head (default: /var/lib/peerwatch, when its head names one of these logs).", valueName: "dir"))
    var stateDirectory: String?

    func run() throws {
        let head: ChainHead?
        do {
            head = try chainHead()
        } catch {
            FileHandle.standardError.write(Data("peerwatch: \(error.description)\n".utf8))
            throw ExitCode(2)
        }
        let report = AlertChainVerifier.verify(paths: logs, head: head)
        for problem in report.unreadable {
            FileHandle.standardError.write(Data("peerwatch: \(problem.description)\n".utf8))
        }
        guard report.unreadable.isEmpty else { throw ExitCode(2) }
        for file in report.files {
            let range = file.firstSequence.map { first in " (seq \(first) to \(file.lastSequence ?? first))" } ?? ""
            print("\(file.path): \(file.records) records\(range), \(file.closed ? "closed" : "not closed")")
        }
        for note in report.notes { print("note: \(note.description)") }
        for problem in report.problems { print("\(problem.description)") }
        if report.isIntact {
            print("OK: the chain is whole: \(report.records) records in \(report.files.count) \(report.files.count == 1 ? "file" : "files")")
        } else {
            print("BROKEN: \(report.problems.count) \(report.problems.count == 1 ? "problem" : "problems")")
            throw ExitCode.failure
        }
    }

    /// The chain head to check against: the one in `--state-dir`, or the default state
    /// directory's when it names one of the logs given.
    private func chainHead() throws(CaptureError) -> ChainHead? {
        if let stateDirectory { return try ChainHead.read(from: stateDirectory) }
        guard let head = try? ChainHead.read(from: "/var/lib/peerwatch"), let log = head.log else { return nil }
        let named = Set(logs.map { URL(fileURLWithPath: $0).resolvingSymlinksInPath().path })
        return named.contains(URL(fileURLWithPath: log).resolvingSymlinksInPath().path) ? head : nil
    }
}
