import Foundation
import PeerWatchCore

/// Checks alert logs as one chain: every byte of every record (`ChainedRecord`), each record's
/// link to the one before, across files, and that the logs begin and end where PeerWatch opened
/// and closed them.
///
/// What it refuses, each named by file and line:
/// - a record altered in any byte, a key twice in a record, anything after a record's chain;
/// - a record removed, inserted, reordered or repeated (sequence numbers and `prev` links);
/// - a file that does not start with `log_open`, or whose first `log_open` appended to records
///   that are not there (the start was cut); an empty file;
/// - a file missing between two others (the later one continues a record the earlier lacks);
/// - a log whose last record is not a `log_close` (the end was cut), unless the chain head from
///   the state directory shows the log is being written and holds every record it names;
/// - a `log_close` whose record count does not match the records since its `log_open`.
///
/// Compressed logs (gzip, as logrotate leaves them) are read as they are.
public enum AlertChainVerifier {
    /// A finding, at a file and line.
    public struct Finding: Sendable, Equatable, CustomStringConvertible {
        public var file: String
        public var line: Int?
        public var message: String
        public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(message)" }
    }

    /// What one file holds.
    public struct FileSummary: Sendable, Equatable {
        public var path: String
        public var records: Int
        public var firstSequence: UInt64?
        public var lastSequence: UInt64?
        /// Whether the file's last record is a `log_close`.
        public var closed: Bool
    }

    /// The outcome of a verification.
    public struct Report: Sendable, Equatable {
        /// The files, in chain order.
        public var files: [FileSummary] = []
        /// What breaks the chain or its completeness.
        public var problems: [Finding] = []
        /// What is worth knowing but proves nothing was altered (an unclean stop, a torn line
        /// PeerWatch cut at start, a log still being written).
        public var notes: [Finding] = []
        /// Records verified in all.
        public var records: Int { files.reduce(0) { $0 + $1.records } }
        /// Whether the chain is whole.
        public var isIntact: Bool { problems.isEmpty }
        /// Set when a file could not be read at all.
        public var unreadable: [Finding] = []
    }

    /// Problems reported per file before the rest are summarised.
    public static let maxProblemsPerFile = 20

    /// Verifies `paths` as one chain, taking them in the order of their first records (so
    /// `alerts.json*` works whatever the shell's order). `head` is the chain head a running
    /// PeerWatch keeps, to check the end of a log it is still writing.
    public static func verify(paths: [String], head: ChainHead? = nil) -> Report {
        var report = Report()
        var inputs: [(path: String, first: UInt64?)] = []
        for path in paths {
            do {
                let lines = try LogLines(path: path)
                let first = try lines.next().flatMap { try? ChainedRecord.check($0.bytes).sequence }
                inputs.append((path, first))
            } catch {
                report.unreadable.append(Finding(file: path, line: nil, message: error.message))
            }
        }
        guard report.unreadable.isEmpty else { return report }
        // Files whose first line is no record go first, as given; the rest by first sequence.
        let ordered = inputs.enumerated().sorted { a, b in
            switch (a.element.first, b.element.first) {
            case (nil, nil): a.offset < b.offset
            case (nil, _): true
            case (_, nil): false
            case (let x?, let y?): x == y ? a.offset < b.offset : x < y
            }
        }.map(\.element.path)
        var walker = Walker(head: head)
        for path in ordered {
            do {
                let lines = try LogLines(path: path)
                walker.walk(path: path, lines: lines, into: &report)
            } catch {
                report.unreadable.append(Finding(file: path, line: nil, message: error.message))
                return report
            }
        }
        walker.finish(into: &report)
        return report
    }

    /// Verifies one log held in memory (tests, tools).
    public static func verify(_ data: Data, name: String = "log", head: ChainHead? = nil) -> Report {
        var report = Report()
        var walker = Walker(head: head)
        walker.walk(path: name, lines: LogLines(data: Array(data)), into: &report)
        walker.finish(into: &report)
        return report
    }

    /// The state kept from record to record, and file to file.
    private struct Walker {
        let head: ChainHead?
        var previous: (record: ChainedRecord, file: String, line: Int)?
        /// Records since the last log_open, for log_close's count.
        var segmentRecords = 0
        var sawHeadRecord = false

        init(head: ChainHead?) { self.head = head }

        mutating func walk(path: String, lines: LogLines, into report: inout Report) {
            var summary = FileSummary(path: path, records: 0, firstSequence: nil, lastSequence: nil, closed: false)
            var problems = 0
            func problem(_ line: Int?, _ message: String) {
                problems += 1
                if problems <= AlertChainVerifier.maxProblemsPerFile {
                    report.problems.append(Finding(file: path, line: line, message: message))
                } else if problems == AlertChainVerifier.maxProblemsPerFile + 1 {
                    report.problems.append(Finding(file: path, line: line, message: "further problems in this file not listed"))
                }
            }
            func note(_ line: Int?, _ message: String) { report.notes.append(Finding(file: path, line: line, message: message)) }
            var lineNumber = 0
            var isFirst = true
            defer { report.files.append(summary) }
            while true {
                let next: LogLines.Line?
                do {
                    next = try lines.next()
                } catch {
                    problem(lineNumber + 1, error.message)
                    return
                }
                guard let line = next else { break }
                lineNumber += 1
                if !line.terminated { problem(lineNumber, "the last line has no newline: a torn or appended partial record") }
                guard !line.bytes.isEmpty else {
                    problem(lineNumber, "an empty line: no PeerWatch log holds one")
                    continue
                }
                let record: ChainedRecord
                do {
                    record = try ChainedRecord.check(line.bytes)
                } catch {
                    problem(lineNumber, error.description)
                    // The next record cannot be linked to this one.
                    previous = nil
                    isFirst = false
                    continue
                }
                summary.records += 1
                if summary.firstSequence == nil { summary.firstSequence = record.sequence }
                summary.lastSequence = record.sequence
                let isOpen = record.eventType == "log_open", isClose = record.eventType == "log_close"
                if isFirst {
                    isFirst = false
                    if !isOpen {
                        problem(lineNumber, "the file does not start with a log_open record: the records before this one were removed")
                    } else if record.log?["appended"]?.bool == true {
                        problem(lineNumber, "this log_open appended to a file that already held records, and they are not here: the start of the file was removed")
                    }
                }
                if let previous {
                    let here = previous.file == path ? "" : " (\(previous.file) ends at record \(previous.record.sequence))"
                    if record.sequence == previous.record.sequence + 1 {
                        if record.previousHash != previous.record.hash {
                            problem(lineNumber, previous.file == path
                                ? "prev does not match the record before: a record was replaced or reordered"
                                : "does not continue the last record of \(previous.file) (its hash differs): a file is missing between them, or one was altered")
                        }
                    } else if record.sequence > previous.record.sequence + 1 {
                        let first = previous.record.sequence + 1, last = record.sequence - 1
                        let missing = first == last ? "record \(first) is missing" : "records \(first) to \(last) are missing"
                        problem(lineNumber, "\(missing) before this one\(here)"
                            + (previous.file == path ? "" : ": a file is missing, or the end of \(previous.file) was removed"))
                    } else {
                        problem(lineNumber, "sequence goes back from \(previous.record.sequence) to \(record.sequence): records repeated or reordered\(here)")
                    }
                    if previous.record.eventType == "log_close", !isOpen {
                        problem(lineNumber, "a \(record.eventType) record after the log was closed (line \(previous.line) of \(previous.file)): records were appended")
                    }
                    if isOpen, previous.record.eventType != "log_close" {
                        note(lineNumber, "PeerWatch did not close the log before this log_open (it stopped uncleanly: a crash or power loss)")
                    }
                } else if isOpen, record.sequence > 1, report.files.isEmpty, summary.records == 1 {
                    note(lineNumber, "the chain continues record \(record.sequence - 1) of an earlier log, not given")
                }
                if isOpen, let missing = record.log?["missing"] {
                    problem(lineNumber, "PeerWatch found records \(missing["first_seq"]?.unsigned ?? 0) to \(missing["last_seq"]?.unsigned ?? 0) missing from the log when it started: they were removed while it was stopped")
                }
                if isOpen, let recovered = record.log?["recovered"] {
                    note(lineNumber, "PeerWatch cut a torn \(recovered["bytes_cut"]?.unsigned ?? 0)-byte last line from the log when it started (SHA-256 \(recovered["sha256"]?.string ?? "?"))")
                }
                if isClose, let claimed = record.log?["records"]?.unsigned, claimed != UInt64(segmentRecords) {
                    problem(lineNumber, "log_close counts \(claimed) records since its log_open; the log holds \(segmentRecords)")
                }
                if let head, record.sequence == head.sequence {
                    sawHeadRecord = true
                    if record.hash != head.hash { problem(lineNumber, "record \(record.sequence) is not the one the chain head names (hash differs)") }
                }
                segmentRecords = isOpen ? 0 : segmentRecords + (isClose ? 0 : 1)
                summary.closed = isClose
                previous = (record, path, lineNumber)
            }
            if lineNumber == 0 { problem(nil, "the file is empty: a PeerWatch log always holds at least its log_open record") }
        }

        func finish(into report: inout Report) {
            guard let last = report.files.last, last.records > 0 else { return }
            let path = last.path
            let earliest = report.files.compactMap(\.firstSequence).min() ?? 1
            if let head, let lastSequence = last.lastSequence {
                if head.sequence > lastSequence {
                    report.problems.append(Finding(file: path, line: nil, message:
                        "the chain head names record \(head.sequence), but the log ends at record \(lastSequence): its last records were removed"))
                } else if head.sequence < earliest {
                    report.notes.append(Finding(file: path, line: nil, message: "the chain head names record \(head.sequence), which is in an earlier log, not given"))
                    if !last.closed { report.problems.append(Self.unclosed(path)) }
                } else if !sawHeadRecord {
                    report.problems.append(Finding(file: path, line: nil, message: "the record the chain head names (\(head.sequence)) is not in these logs"))
                } else if !last.closed {
                    let after = lastSequence - head.sequence
                    report.notes.append(Finding(file: path, line: nil, message:
                        "the log is open (PeerWatch is writing it): every record up to the chain head is here\(after > 0 ? ", and \(after) written since the head was last saved" : "")"))
                }
            } else if !last.closed {
                report.problems.append(Self.unclosed(path))
            }
        }

        static func unclosed(_ path: String) -> Finding {
            Finding(file: path, line: nil, message:
                "the log does not end with a log_close record: its last records were removed, or PeerWatch is still writing it or stopped uncleanly (give --state-dir to check a running log against its chain head)")
        }
    }
}

/// The lines of a log file, plain or gzip-compressed, read in pieces.
final class LogLines {
    struct Line {
        var bytes: [UInt8]
        /// Whether a newline ended it.
        var terminated: Bool
    }

    /// A line longer than this is no record; reading stops there.
    static let maxLineLength = 1 << 20

    private var descriptor: Int32?
    private var inflater: Inflater?
    private var pending: [UInt8] = []
    private var position = 0
    private var exhausted = false
    private let path: String

    /// Opens `path`; gzip files are recognised by their magic bytes.
    init(path: String) throws(CaptureError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CaptureError("\(path): cannot read: \(String(cString: strerror(errno)))") }
        descriptor = fd
        var magic: [UInt8] = [0, 0]
        if pread(fd, &magic, 2, 0) == 2, magic == [0x1F, 0x8B] {
            guard let inflater = Inflater(format: .gzip) else { throw CaptureError("\(path): cannot start decompression") }
            self.inflater = inflater
        }
    }

    /// Lines from bytes in memory.
    init(data: [UInt8]) {
        path = "log"
        pending = data
        exhausted = true
    }

    deinit {
        if let descriptor { Foundation.close(descriptor) }
    }

    /// The next line, or `nil` at the end.
    func next() throws(CaptureError) -> Line? {
        while true {
            if let newline = pending[position...].firstIndex(of: 0x0A) {
                let line = Array(pending[position ..< newline])
                position = newline + 1
                compact()
                return Line(bytes: line, terminated: true)
            }
            guard pending.count - position <= Self.maxLineLength else {
                throw CaptureError("\(path): a line longer than \(Self.maxLineLength) bytes: not a PeerWatch log")
            }
            if exhausted {
                guard position < pending.count else { return nil }
                let line = Array(pending[position...])
                position = pending.count
                return Line(bytes: line, terminated: false)
            }
            try fill()
        }
    }

    private func compact() {
        if position > 1 << 20 {
            pending.removeFirst(position)
            position = 0
        }
    }

    private func fill() throws(CaptureError) {
        guard let descriptor else {
            exhausted = true
            return
        }
        var chunk = [UInt8](repeating: 0, count: 256 * 1024)
        let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 {
            if errno == EINTR { return }
            throw CaptureError("\(path): read failed: \(String(cString: strerror(errno)))")
        }
        if count == 0 {
            exhausted = true
            return
        }
        guard let inflater else {
            pending.append(contentsOf: chunk[0 ..< count])
            return
        }
        var produced: [UInt8] = []
        let outcome = chunk.withUnsafeBytes { raw in
            inflater.inflate(UnsafeRawBufferPointer(rebasing: raw[0 ..< count]), limit: Int.max) { produced.append(contentsOf: $0) }
        }
        pending.append(contentsOf: produced)
        if case .malformed(let reason) = outcome { throw CaptureError("\(path): not a readable gzip file: \(reason)") }
    }
}
