import ArgumentParser
import Foundation
import PeerWatchRuntime

/// `peerwatch verify`: checks that an alert log's chain is whole.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check an alert log's chain: no record removed, reordered or altered.",
        discussion: "Exit status: 0 when every log is whole, 1 when a chain is broken, 2 when a log cannot be read."
    )

    @Argument(help: ArgumentHelp("Alert logs written by peerwatch.", valueName: "log"))
    var logs: [String]

    func run() throws {
        var broken = false
        for path in logs {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("peerwatch: \(path): cannot read\n".utf8))
                throw ExitCode(2)
            }
            let report = AlertChainVerifier.verify(data)
            if let firstBreak = report.firstBreak {
                print("\(path): BROKEN at line \(firstBreak.line): \(firstBreak.reason) (\(report.records) records verified before it)")
                broken = true
            } else {
                print("\(path): OK, \(report.records) records, chain intact")
            }
        }
        if broken { throw ExitCode.failure }
    }
}
