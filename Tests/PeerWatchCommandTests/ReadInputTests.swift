import Foundation
import Testing

/// `peerwatch read` from what is not a regular file, and stopped before the end.
@Suite(.serialized) struct ReadInputTests {
    static let demo = CommandRunner.packageRoot.appendingPathComponent("seeds/demo.pcap").path
    static let list = CommandRunner.packageRoot.appendingPathComponent("seeds/demo-watchlist.txt").path

    /// Starts `peerwatch read ARGUMENTS`, its standard input from `input` if given.
    func start(_ arguments: [String], input: FileHandle? = nil, work: URL) throws -> (Process, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandRunner.binary)
        process.arguments = ["read"] + arguments
        process.currentDirectoryURL = CommandRunner.packageRoot
        let out = work.appendingPathComponent("out.json").path, err = work.appendingPathComponent("err.txt").path
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
        if let input { process.standardInput = input }
        try process.run()
        return (process, out, err)
    }

    func matches(in path: String) -> Int {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").components(separatedBy: "\"event_type\":\"match\"").count - 1
    }

    /// Fault 10: `read -` failed with "unknown file format".
    @Test func standardInputIsReadAsOneCapture() throws {
        let work = try scratchDirectory("stdin")
        defer { try? FileManager.default.removeItem(at: work) }
        let input = try #require(FileHandle(forReadingAtPath: Self.demo))
        let (process, out, err) = try start(["-", "--watchlist", Self.list], input: input, work: work)
        #expect(waitUntil(seconds: 30) { !process.isRunning })
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\((try? String(contentsOfFile: err, encoding: .utf8)) ?? "")")
        #expect(matches(in: out) == 10)
    }

    /// Fault 10: a FIFO was opened twice (validated, then read): the writer got SIGPIPE and the
    /// second open blocked forever.
    @Test func aFIFOIsReadOnceAndItsWriterIsUnharmed() throws {
        let work = try scratchDirectory("fifo")
        defer { try? FileManager.default.removeItem(at: work) }
        let fifo = work.appendingPathComponent("capture.fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let (process, out, err) = try start([fifo, "--watchlist", Self.list], work: work)
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/bin/sh")
        writer.arguments = ["-c", "cat \"$0\" > \"$1\"", Self.demo, fifo]
        try writer.run()
        #expect(waitUntil(seconds: 30) { !process.isRunning && !writer.isRunning })
        process.waitUntilExit()
        writer.waitUntilExit()
        #expect(writer.terminationStatus == 0, "the writer died (SIGPIPE is status 141)")
        #expect(process.terminationStatus == 0, "\((try? String(contentsOfFile: err, encoding: .utf8)) ?? "")")
        #expect(matches(in: out) == 10)
    }

    /// Faults 10 and 11: a read blocked on a quiet FIFO was deaf to SIGTERM and SIGINT, and an
    /// interrupted read exited 0. It stops within a second, says so, closes its log, and exits
    /// 128 plus the signal's number.
    @Test(arguments: [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")])
    func aReadStoppedEarlySaysSoAndExitsNonZero(signal: Int32, name: String) throws {
        let work = try scratchDirectory("interrupt")
        defer { try? FileManager.default.removeItem(at: work) }
        let fifo = work.appendingPathComponent("capture.fifo").path
        let log = work.appendingPathComponent("alerts.json").path
        #expect(mkfifo(fifo, 0o600) == 0)
        let (process, _, err) = try start([fifo, "--watchlist", Self.list, "--log", log], work: work)
        // A writer that sends the first half of the capture and then holds the FIFO open.
        let half = try Data(contentsOf: URL(fileURLWithPath: Self.demo)).prefix(20_000)
        let writerFD = open(fifo, O_WRONLY)
        try #require(writerFD >= 0)
        defer { close(writerFD) }
        _ = half.withUnsafeBytes { write(writerFD, $0.baseAddress, $0.count) }
        #expect(waitUntil(seconds: 10) { FileManager.default.fileExists(atPath: log) })
        Thread.sleep(forTimeInterval: 0.5)
        let sent = Date()
        kill(process.processIdentifier, signal)
        #expect(waitUntil(seconds: 5) { !process.isRunning }, "read did not stop on \(name)")
        let took = Date().timeIntervalSince(sent)
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        #expect(took < 2, "\(took) s to stop")
        #expect(process.terminationStatus == 128 + signal)
        let errors = (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
        #expect(errors.contains("peerwatch: interrupted by \(name) after "), "\(errors)")
        #expect(errors.contains("packets: the capture was not read to its end"))
        // The log was closed properly and verifies.
        #expect(try CommandRunner.peerwatch(["verify", log]).status == 0)
    }
}
