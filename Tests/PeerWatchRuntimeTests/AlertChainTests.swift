import Crypto
import Foundation
import Logging
import Testing
import PeerWatchCore
@testable import PeerWatchRuntime

/// The alert chain against the tampering a log can suffer, and across restarts and rotations.
@Suite struct AlertChainTests {
    /// Writes a closed log of `matches` match records (between its log_open and log_close).
    static func writeLog(_ path: String, matches: Int, stateDirectory: String? = nil, in directory: TemporaryDirectory) throws {
        let match = try listedMatchEvent(in: directory)
        let output = try AlertOutput(sensor: SensorIdentity(name: "chain-test", interface: nil), log: .init(path: path, stateDirectory: stateDirectory),
                                     writeToStandardOutput: false, policy: .waitWhenFull, logger: Logger(label: "t"))
        output.submit(Array(repeating: match, count: matches))
        try output.close()
    }

    /// The hash a record's bytes up to `"hash":"` call for: computed here with swift-crypto,
    /// as anyone re-sealing a forged record would.
    static func reseal(_ prefix: [UInt8]) -> [UInt8] {
        let digest = SHA256.hash(data: prefix + Array(#""}}"#.utf8))
        return prefix + Array(Hex.encode(Array(digest)).utf8) + Array(#""}}"#.utf8)
    }

    /// A record's bytes up to and including `"hash":"`.
    static func unsealed(_ line: [UInt8]) -> [UInt8] {
        Array(line.dropLast(64 + 3))
    }

    @Test func anUntouchedLogVerifies() throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/alerts.json"
        try Self.writeLog(log, matches: 5, in: directory)
        let report = AlertChainVerifier.verify(paths: [log])
        #expect(report.problems == [])
        #expect(report.records == 7)
        #expect(report.files == [.init(path: log, records: 7, firstSequence: 1, lastSequence: 7, closed: true)])
    }

    /// Fault 1: bytes after the hash were not covered, and lenient readers take the last of two
    /// equal keys.
    @Test func bytesAfterTheHashAreRefused() throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/alerts.json"
        try Self.writeLog(log, matches: 3, in: directory)
        var lines = try fileLines(log)
        let forged = Array(#"},"src_ip":"6.6.6.6","p2p":{"id":"0000000000000000000000000000000000000000"}}"#.utf8)
        lines[2] = Array(lines[2].dropLast(2)) + forged
        try writeLines(lines, to: log)
        let report = AlertChainVerifier.verify(paths: [log])
        #expect(report.problems.first == .init(file: log, line: 3, message: "the line does not end with its chain hash (bytes after the hash, or no chain)"))
        // The same bytes with the hash recomputed over everything before "hash": still refused.
        #expect(throws: ChainedRecord.Problem.self) { try ChainedRecord.check(lines[2]) }
    }

    @Test func aKeyTwiceInARecordIsRefusedEvenWithItsHashRecomputed() throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/alerts.json"
        try Self.writeLog(log, matches: 3, in: directory)
        var lines = try fileLines(log)
        let text = String(decoding: Self.unsealed(lines[2]), as: UTF8.self)
            .replacingOccurrences(of: #""src_ip":"198.51.100.23""#, with: #""src_ip":"198.51.100.23","src_ip":"6.6.6.6""#)
        lines[2] = Self.reseal(Array(text.utf8))
        try writeLines(lines, to: log)
        let report = AlertChainVerifier.verify(paths: [log])
        #expect(report.problems.first?.line == 3)
        #expect(report.problems.first?.message.contains(#"key "src_ip" appears twice in one object"#) == true)
        // Nested objects too.
        let nested = String(decoding: Self.unsealed(try fileLines(log)[3]), as: UTF8.self)
            .replacingOccurrences(of: #""p2p":{"protocol":"bittorrent""#, with: #""p2p":{"protocol":"bittorrent","protocol":"http""#)
        let resealed = Self.reseal(Array(nested.utf8))
        let offset = try #require(String(decoding: resealed, as: UTF8.self).range(of: #","protocol":"http""#)).lowerBound.utf16Offset(in: String(decoding: resealed, as: UTF8.self))
        #expect(throws: ChainedRecord.Problem.notJSON(#"key "protocol" appears twice in one object at byte \#(offset + 2)"#)) {
            try ChainedRecord.check(resealed)
        }
    }

    @Test func removingTheFirstRecordIsFound() throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/alerts.json"
        try Self.writeLog(log, matches: 3, in: directory)
        try writeLines(Array(try fileLines(log).dropFirst()), to: log)
        let report = AlertChainVerifier.verify(paths: [log])
        #expect(report.problems == [.init(file: log, line: 1, message: "the file does not start with a log_open record: the records before this one were removed")])
    }

    @Test(arguments: [1, 2, 4])
    func removingTheLastRecordsIsFound(count: Int) throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/alerts.json"
        try Self.writeLog(log, matches: 4, in: directory)
        try writeLines(Array(try fileLines(log).dropLast(count)), to: log)
        let report = AlertChainVerifier.verify(paths: [log])
        #expect(report.problems.count == 1)
        #expect(report.problems.first?.message.hasPrefix("the log does not end with a log_close record") == true)
    }

    @Test func anEmptyFileIsRefused() throws {
        let directory = try TemporaryDirectory()
        let log = try directory.write("alerts.json", [])
        let report = AlertChainVerifier.verify(paths: [log])
        #expect(report.problems == [.init(file: log, line: nil, message: "the file is empty: a PeerWatch log always holds at least its log_open record")])
    }

    @Test func aRecordAppendedWithARecomputedHashIsFound() throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/alerts.json"
        try Self.writeLog(log, matches: 2, in: directory)
        var lines = try fileLines(log)
        let last = try ChainedRecord.check(try #require(lines.last))
        // A match record as PeerWatch would write it, chained to the log_close.
        var match = String(decoding: Self.unsealed(lines[1]), as: UTF8.self)
        match = match.replacingOccurrences(of: "\"seq\":2,", with: "\"seq\":\(last.sequence + 1),")
        let prevKey = try #require(match.range(of: "\"prev\":\""))
        match = String(match[..<prevKey.upperBound]) + last.hash + "\",\"hash\":\""
        lines.append(Self.reseal(Array(match.utf8)))
        #expect((try? ChainedRecord.check(lines[lines.count - 1])) != nil, "the forged record is itself well formed")
        try writeLines(lines, to: log)
        let report = AlertChainVerifier.verify(paths: [log])
        #expect(report.problems.contains(.init(file: log, line: lines.count,
                                               message: "a match record after the log was closed (line \(lines.count - 1) of \(log)): records were appended")))
        #expect(report.problems.contains { $0.message.hasPrefix("the log does not end with a log_close record") })
    }

    /// A log still being written is checked against the chain head: removing its last records
    /// is found.
    @Test func anOpenLogIsCheckedAgainstItsChainHead() throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/alerts.json"
        let match = try listedMatchEvent(in: directory)
        let output = try AlertOutput(sensor: SensorIdentity(name: "t", interface: nil), log: .init(path: log, stateDirectory: directory.path),
                                     writeToStandardOutput: false, policy: .waitWhenFull, logger: Logger(label: "t"))
        output.submit(Array(repeating: match, count: 4))
        // The head is written when the log is synced, within about a second.
        #expect(waitFor(seconds: 5) { (try? ChainHead.read(from: directory.path))?.sequence == 5 })
        let head = try #require(try ChainHead.read(from: directory.path))
        #expect(head.log == log)
        let open = directory.path + "/open.json"
        try FileManager.default.copyItem(atPath: log, toPath: open)
        let whole = AlertChainVerifier.verify(paths: [open], head: head)
        #expect(whole.problems == [])
        #expect(whole.notes.last?.message == "the log is open (PeerWatch is writing it): every record up to the chain head is here")
        try writeLines(Array(try fileLines(open).dropLast(2)), to: open)
        let cut = AlertChainVerifier.verify(paths: [open], head: head)
        #expect(cut.problems == [.init(file: open, line: nil, message: "the chain head names record 5, but the log ends at record 3: its last records were removed")])
        try output.close()
    }

    /// Fault 9: a restart after a rotation and before the first record started the chain from
    /// zero; the chain head carries it on.
    @Test func aRestartAfterARotationContinuesTheChain() throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/alerts.json"
        try Self.writeLog(log, matches: 2, stateDirectory: directory.path, in: directory)
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        try Self.writeLog(log, matches: 0, stateDirectory: directory.path, in: directory)
        let lines = try fileLines(log)
        let opening = try ChainedRecord.check(lines[0])
        #expect(opening.sequence == 5)
        #expect(opening.log?["chain_from"]?.string == "head")
        #expect(opening.previousHash == (try ChainedRecord.check(try #require(try fileLines(log + ".1").last)).hash))
        let report = AlertChainVerifier.verify(paths: [log, log + ".1"])
        #expect(report.problems == [])
        #expect(report.files.map(\.path) == [log + ".1", log])
    }

    /// Fault 9: `verify A C` passed with B missing.
    @Test func aMissingMiddleFileIsNamed() throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/alerts.json"
        for index in (1 ... 2).reversed() {
            try Self.writeLog(log, matches: 2, stateDirectory: directory.path, in: directory)
            try FileManager.default.moveItem(atPath: log, toPath: log + ".\(index)")
        }
        try Self.writeLog(log, matches: 2, stateDirectory: directory.path, in: directory)
        #expect(AlertChainVerifier.verify(paths: [log + ".2", log + ".1", log]).problems == [])
        let report = AlertChainVerifier.verify(paths: [log + ".2", log])
        #expect(report.problems == [.init(file: log, line: 1, message:
            "records 5 to 8 are missing before this one (\(log).2 ends at record 4): a file is missing, or the end of \(log).2 was removed")])
    }

    /// Fault 5: a torn last line made the next start refuse the log (a restart loop under
    /// systemd). It is cut, and the cut is recorded in the chain.
    @Test func aTornLastLineIsCutAndRecordedAtStart() throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/alerts.json"
        try Self.writeLog(log, matches: 2, in: directory)
        let whole = try Data(contentsOf: URL(fileURLWithPath: log))
        let torn = Array(try fileLines(log)[1].prefix(700))
        let handle = try #require(FileHandle(forWritingAtPath: log))
        handle.seekToEndOfFile()
        handle.write(Data(torn))
        try handle.close()
        try Self.writeLog(log, matches: 1, in: directory)
        let after = try Data(contentsOf: URL(fileURLWithPath: log))
        #expect(after.prefix(whole.count) == whole)
        let opening = try ChainedRecord.check(try fileLines(log)[4])
        #expect(opening.eventType == "log_open")
        #expect(opening.log?["recovered"]?["bytes_cut"]?.unsigned == 700)
        #expect(opening.log?["recovered"]?["sha256"]?.string == Hex.encode(Array(SHA256.hash(data: torn))))
        let report = AlertChainVerifier.verify(paths: [log])
        #expect(report.problems == [])
        #expect(report.notes.contains { $0.line == 5 && $0.message.hasPrefix("PeerWatch cut a torn 700-byte last line") })
    }

    /// Records cut off a log while PeerWatch was stopped are recorded as missing when it starts,
    /// and the chain goes on after them.
    @Test func recordsCutWhileStoppedAreRecordedAsMissing() throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/alerts.json"
        try Self.writeLog(log, matches: 3, stateDirectory: directory.path, in: directory)
        try writeLines(Array(try fileLines(log).dropLast(2)), to: log)
        try Self.writeLog(log, matches: 0, stateDirectory: directory.path, in: directory)
        let opening = try ChainedRecord.check(try fileLines(log)[3])
        #expect(opening.sequence == 6)
        #expect(opening.log?["missing"]?["first_seq"]?.unsigned == 4)
        #expect(opening.log?["missing"]?["last_seq"]?.unsigned == 5)
        let problems = AlertChainVerifier.verify(paths: [log]).problems.map(\.message)
        #expect(problems.contains("PeerWatch found records 4 to 5 missing from the log when it started: they were removed while it was stopped"))
        #expect(problems.contains("records 4 to 5 are missing before this one"))
    }

    @Test func aGzipCompressedRotatedLogVerifies() throws {
        let directory = try TemporaryDirectory()
        let log = directory.path + "/alerts.json"
        try Self.writeLog(log, matches: 2, stateDirectory: directory.path, in: directory)
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        try Self.writeLog(log, matches: 2, stateDirectory: directory.path, in: directory)
        let gzip = try CommandRunnerLite.run("/bin/gzip", [log + ".1"])
        #expect(gzip == 0)
        let report = AlertChainVerifier.verify(paths: [log, log + ".1.gz"])
        #expect(report.problems == [])
        #expect(report.files.map(\.path) == [log + ".1.gz", log])
        #expect(report.records == 8)
    }
}

/// Polls `condition` every 20 ms for at most `seconds`.
func waitFor(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(20_000)
    }
    return condition()
}

/// Runs a program to completion (bounded by `timeout`) and returns its exit status.
enum CommandRunnerLite {
    static func run(_ executable: String, _ arguments: [String], timeout: Double = 30) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            throw TestFailure("\(executable) did not finish within \(timeout) s")
        }
        return process.terminationStatus
    }
}
