import Foundation
import Testing

/// Runs the built `peerwatch` binary (or any program) and collects its output, with a time limit.
enum CommandRunner {
    struct Output {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    /// The package root (for seeds/).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `peerwatch` binary built beside the test bundle.
    static var binary: String {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let besideBundle = directory.appendingPathComponent("peerwatch").path
        if FileManager.default.isExecutableFile(atPath: besideBundle) { return besideBundle }
        // Inside an .xctest bundle directory (macOS layout), the products are one level further up.
        return directory.deletingLastPathComponent().appendingPathComponent("peerwatch").path
    }

    /// Runs `arguments` with `executable`, waiting at most `timeout` seconds.
    static func run(_ executable: String, _ arguments: [String], timeout: TimeInterval = 60, environment: [String: String] = [:]) throws -> Output {
        let process = Process()
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = packageRoot
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes while the process runs so a full pipe cannot stall it.
        let collected = Collected()
        let group = DispatchGroup()
        for (pipe, isOut) in [(out, true), (err, false)] {
            group.enter()
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                collected.set(data, isOut: isOut)
                group.leave()
            }
        }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        if process.isRunning {
            process.terminate()
            Issue.record("\(executable) \(arguments) did not finish within \(timeout) s")
        }
        process.waitUntilExit()
        _ = group.wait(timeout: .now() + 10)
        return Output(status: process.terminationStatus, standardOutput: collected.text(isOut: true), standardError: collected.text(isOut: false))
    }

    static func peerwatch(_ arguments: [String], timeout: TimeInterval = 60) throws -> Output {
        try run(binary, arguments, timeout: timeout)
    }

    final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var out = Data(), err = Data()
        func set(_ data: Data, isOut: Bool) { lock.withLock { if isOut { out = data } else { err = data } } }
        func text(isOut: Bool) -> String { lock.withLock { String(decoding: isOut ? out : err, as: UTF8.self) } }
    }
}

/// JSON lines parsed into dictionaries.
func records(_ text: String) throws -> [[String: Any]] {
    try text.split(separator: "\n").map { line in
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }
}
