import Foundation
import PeerWatchCore

/// The alert chain's head, kept in the state directory (`chain-head.json`): the sequence number
/// and hash of the last record synced to the log, and which log holds it.
///
/// It is what lets the chain go on across a restart that finds an empty log (after a rotation)
/// and what shows, at start and in `verify`, that records were cut off a log's end.
public struct ChainHead: Sendable, Equatable {
    /// The file name in the state directory.
    public static let fileName = "chain-head.json"

    /// The last record's `chain.seq`.
    public var sequence: UInt64
    /// The last record's `chain.hash`.
    public var hash: String
    /// The log that holds it (as configured).
    public var log: String?

    public init(sequence: UInt64, hash: String, log: String?) {
        self.sequence = sequence
        self.hash = hash
        self.log = log
    }

    /// The head kept in `directory`, or `nil` when there is none.
    /// - Throws: `CaptureError` when the file exists but cannot be read or is not a head.
    public static func read(from directory: String) throws(CaptureError) -> ChainHead? {
        let path = (directory as NSString).appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CaptureError("\(path): cannot read the chain head: \(String(cString: strerror(errno)))")
        }
        let value: StrictJSON.Value
        do {
            value = try StrictJSON.parse(Array(data))
        } catch {
            throw CaptureError("\(path): not a chain head (\(error.description))")
        }
        guard let sequence = value["seq"]?.unsigned, let hash = value["hash"]?.string, hash.utf8.count == 64 else {
            throw CaptureError("\(path): not a chain head (expected seq and hash)")
        }
        return ChainHead(sequence: sequence, hash: hash, log: value["log"]?.string)
    }

    /// Writes the head to `directory` atomically (a temporary file, synced, then renamed), mode 0640.
    /// The corresponding C functions are `open`, `write`, `fsync` and `rename`.
    public func write(to directory: String) throws(CaptureError) {
        let path = (directory as NSString).appendingPathComponent(Self.fileName)
        let temporary = path + ".tmp"
        var builder = JSONLineBuilder()
        builder.beginObject()
        builder.field("seq", sequence)
        builder.field("hash", hash)
        builder.field("log", log)
        builder.field("updated", Timestamp.now.iso8601)
        builder.endObject()
        let bytes = builder.bytes + [0x0A]
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw CaptureError("\(temporary): cannot write the chain head: \(String(cString: strerror(errno)))") }
        do throws(CaptureError) {
            try FileDescriptorIO.writeAll(fd, bytes, path: temporary)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        fsync(fd)
        close(fd)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw CaptureError("\(path): cannot replace the chain head: \(reason)")
        }
    }
}

/// Writing whole buffers to descriptors, retrying short writes and interrupts.
enum FileDescriptorIO {
    /// Writes every byte of `bytes` to `fd`. The corresponding C function is `write`.
    /// - Throws: `CaptureError` naming `path` and the errno text.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(CaptureError) {
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { raw in
                Foundation.write(fd, raw.baseAddress, raw.count)
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw CaptureError("\(path): write failed: \(String(cString: strerror(errno)))")
            }
            if result == 0 { throw CaptureError("\(path): write failed: nothing written") }
            written += result
        }
    }
}
