import Foundation
import PeerWatchCore

/// The alert log: an append-only file of JSON lines. Opening it continues the chain of the
/// records already there, so one file holds one unbroken chain across restarts.
final class AlertLogFile {
    let path: String
    private var descriptor: Int32

    /// Opens (creating with mode 0640 if needed) `path` for appending.
    init(path: String) throws(CaptureError) {
        self.path = path
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw CaptureError("\(path): cannot open alert log: \(String(cString: strerror(errno)))") }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Where the chain of the records already in `path` stands (`genesis` for a new or empty file).
    static func chainState(continuing path: String) throws(CaptureError) -> ChainState {
        guard let handle = FileHandle(forReadingAtPath: path) else { return .genesis }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        guard size > 0 else { return .genesis }
        // The last record is at most a few KiB; read a generous tail.
        let tail = min(size, 256 * 1024)
        try? handle.seek(toOffset: size - tail)
        let data = (try? handle.readToEnd()) ?? Data()
        let lines = data.split(separator: 0x0A)
        guard let last = lines.last,
              let object = try? JSONSerialization.jsonObject(with: Data(last)) as? [String: Any],
              let chain = object["chain"] as? [String: Any],
              let sequence = (chain["seq"] as? NSNumber)?.uint64Value,
              let hash = chain["hash"] as? String, hash.count == 64
        else {
            throw CaptureError("\(path): the last line is not a chained PeerWatch record; move the file aside or name another log")
        }
        return ChainState(nextSequence: sequence + 1, previousHash: hash)
    }

    /// Writes every byte of `bytes`, retrying short writes and interrupts.
    func write(_ bytes: [UInt8]) throws(CaptureError) {
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { raw in
                Foundation.write(descriptor, raw.baseAddress, raw.count)
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw CaptureError("\(path): write failed: \(String(cString: strerror(errno)))")
            }
            written += result
        }
    }

    /// Closes the file and opens `path` again (after a rotation moved the old file away); the
    /// chain goes on in the new file.
    func reopen() throws(CaptureError) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw CaptureError("\(path): cannot reopen alert log: \(String(cString: strerror(errno)))") }
        fsync(descriptor)
        close(descriptor)
        descriptor = fd
    }

    /// Flushes to stable storage (called when the output goes idle, not per record).
    func sync() {
        fsync(descriptor)
    }
}
