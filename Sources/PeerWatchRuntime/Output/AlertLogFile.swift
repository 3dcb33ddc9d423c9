import Crypto
import Foundation
import PeerWatchCore

/// The alert log: an append-only file of chained JSON lines (`ChainedRecord`).
///
/// Records go in whole or not at all: a write that fails part-way (a full disk) is cut back, so
/// the file always ends on a whole record. Opening a log recovers from a crash: a torn last line
/// (bytes after the last newline that are no whole record) is cut off, and what was cut is
/// reported to the caller to record in the chain.
final class AlertLogFile {
    let path: String
    private let descriptor: Int32
    /// The device and inode the descriptor refers to.
    let identity: (device: UInt64, inode: UInt64)

    /// The longest line a torn write can leave: one record. A longer unterminated tail is not a
    /// torn record, and such a file is not cut.
    static let maxRecordLength = 256 * 1024

    /// What opening found.
    struct Opened {
        let file: AlertLogFile
        /// The last whole record, or `nil` for an empty file.
        let lastRecord: ChainedRecord?
        /// A torn last line that was cut off: its length and SHA-256.
        let recovered: (bytes: Int, sha256: String)?
    }

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
        var status = stat()
        fstat(descriptor, &status)
        identity = (UInt64(status.st_dev), UInt64(status.st_ino))
    }

    deinit { close(descriptor) }

    /// Opens `path` for appending, creating it with mode 0640 if needed, and finds where its
    /// chain stands.
    /// - Throws: `CaptureError` when the file cannot be opened, or when it holds something that
    ///   is not a PeerWatch log (refused rather than appended to).
    static func open(path: String) throws(CaptureError) -> Opened {
        let fd = Foundation.open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else {
            throw CaptureError("\(path): cannot open alert log: \(String(cString: strerror(errno)))")
        }
        let file = AlertLogFile(path: path, descriptor: fd)
        let (last, recovered) = try file.recover()
        return Opened(file: file, lastRecord: last, recovered: recovered)
    }

    /// The file's size now. The corresponding C function is `fstat`.
    var size: Int64 {
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return 0 }
        return Int64(status.st_size)
    }

    /// Reads the tail, cuts a torn last line, and returns the last whole record.
    private func recover() throws(CaptureError) -> (ChainedRecord?, (bytes: Int, sha256: String)?) {
        let total = size
        guard total > 0 else { return (nil, nil) }
        let window = Int(min(total, Int64(2 * Self.maxRecordLength + 1)))
        var tail = [UInt8](repeating: 0, count: window)
        let read = tail.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, window, off_t(total - Int64(window))) }
        guard read == window else {
            throw CaptureError("\(path): cannot read the alert log's end: \(String(cString: strerror(errno)))")
        }
        var recovered: (bytes: Int, sha256: String)?
        var end = tail.count
        if tail.last != 0x0A {
            let lineStart = (tail.lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
            let torn = Array(tail[lineStart...])
            guard lineStart > 0 || Int64(window) == total, torn.count <= Self.maxRecordLength else {
                throw CaptureError("\(path): does not end with a PeerWatch record (a \(torn.count)-byte unterminated line); move the file aside or name another log")
            }
            if (try? ChainedRecord.check(torn)) != nil {
                // A whole record whose newline was lost: keep it, end the line.
                try FileDescriptorIO.writeAll(descriptor, [0x0A], path: path)
                tail.append(0x0A)
                end = tail.count
            } else {
                let keep = total - Int64(torn.count)
                guard ftruncate(descriptor, off_t(keep)) == 0 else {
                    throw CaptureError("\(path): cannot cut the torn last line: \(String(cString: strerror(errno)))")
                }
                recovered = (torn.count, Hex.encode(Array(SHA256.hash(data: torn))))
                end = lineStart
            }
        }
        guard end > 0 else { return (nil, recovered) }
        let lineEnd = end - 1
        let lineStart = (tail[0 ..< lineEnd].lastIndex(of: 0x0A).map { $0 + 1 }) ?? 0
        guard lineStart > 0 || Int64(window) == total || lineEnd - lineStart <= Self.maxRecordLength else {
            throw CaptureError("\(path): the last line is longer than any PeerWatch record; move the file aside or name another log")
        }
        do {
            return (try ChainedRecord.check(Array(tail[lineStart ..< lineEnd])), recovered)
        } catch {
            throw CaptureError("\(path): the last line is not a PeerWatch record (schema \(AlertEncoder.schemaVersion)): \(error.description); move the file aside or name another log")
        }
    }

    /// Appends one record, whole or not at all: if the write fails part-way, the file is cut back
    /// to where it was. The corresponding C functions are `write` and `ftruncate`.
    /// - Throws: `CaptureError` with the errno text (`No space left on device`, ...).
    func append(_ record: [UInt8]) throws(CaptureError) {
        let start = lseek(descriptor, 0, SEEK_END)
        do throws(CaptureError) {
            try FileDescriptorIO.writeAll(descriptor, record, path: path)
        } catch {
            if start >= 0 { _ = ftruncate(descriptor, start) }
            throw error
        }
    }

    /// Flushes to stable storage. The corresponding C function is `fsync`.
    func sync() {
        fsync(descriptor)
    }

    /// Whether `other` is the same file (a reopen without a rotation).
    func isSameFile(as other: AlertLogFile) -> Bool {
        identity.device == other.identity.device && identity.inode == other.identity.inode
    }
}
