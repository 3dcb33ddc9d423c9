import Foundation
import PeerWatchCore

/// Reads the records of a classic pcap file (microsecond or nanosecond, either byte order) in
/// large chunks, and hands out each packet as a view into the chunk: no per-packet call into
/// libpcap, no per-packet copy. libpcap still opens the file first (it checks the header and
/// names the link type) and reads everything else: pcapng, pipes, standard input.
///
/// It reads with `read(2)` rather than mapping the file: a capture truncated while it is read
/// (a rotation, an operator's mistake) must end with an error, not kill the sensor with SIGBUS.
/// Its limits and messages are libpcap's: a record longer than 262,144 bytes is refused, one
/// longer than the file's snapshot length is cut to it, and a file that ends inside a record
/// says so.
final class ClassicPcapReader {
    /// The longest record libpcap accepts for the link types PeerWatch reads.
    static let maxRecordLength = 262_144
    static let headerLength = 24
    static let recordHeaderLength = 16

    let path: String
    private let descriptor: Int32
    private let swapped: Bool
    private let nanoseconds: Bool
    private let snapshotLength: Int
    private var atEnd = false

    private init(path: String, descriptor: Int32, swapped: Bool, nanoseconds: Bool, snapshotLength: Int) {
        self.path = path
        self.descriptor = descriptor
        self.swapped = swapped
        self.nanoseconds = nanoseconds
        self.snapshotLength = snapshotLength
    }

    deinit { close(descriptor) }

    /// Opens `path` if it is a regular file in classic pcap format; `nil` for anything else (it
    /// is then libpcap's to read, and to refuse).
    static func open(_ path: String) -> ClassicPcapReader? {
        guard PcapHandle.isRegularFile(path) else { return nil }
        let descriptor = Foundation.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        var header = [UInt8](repeating: 0, count: headerLength)
        let count = header.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, headerLength) }
        guard count == headerLength else {
            close(descriptor)
            return nil
        }
        let magic = UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24
        let swapped: Bool, nanoseconds: Bool
        switch magic {
        case 0xA1B2_C3D4: (swapped, nanoseconds) = (false, false)
        case 0xD4C3_B2A1: (swapped, nanoseconds) = (true, false)
        case 0xA1B2_3C4D: (swapped, nanoseconds) = (false, true)
        case 0x4D3C_B2A1: (swapped, nanoseconds) = (true, true)
        default:
            close(descriptor)
            return nil
        }
        func word(_ offset: Int) -> UInt32 {
            let value = UInt32(header[offset]) | UInt32(header[offset + 1]) << 8 | UInt32(header[offset + 2]) << 16 | UInt32(header[offset + 3]) << 24
            return swapped ? value.byteSwapped : value
        }
        let snapshot = Int(word(16))
        return ClassicPcapReader(path: path, descriptor: descriptor, swapped: swapped, nanoseconds: nanoseconds,
                                 snapshotLength: snapshot > 0 ? snapshot : maxRecordLength)
    }

    /// Fills `chunk` with the file's next bytes, after the partial record `previous` ended with
    /// (`previous` must have been read with `forEachRecord`; it may be `chunk` itself).
    /// Returns `false` at the end of the file. Checking the records is `forEachRecord`'s: it
    /// hands out every whole one before it reports a record cut by the end of the file.
    func fill(_ chunk: CaptureChunk, after previous: CaptureChunk?) throws(CaptureError) -> Bool {
        let carried = previous?.carriedBytes
        chunk.reset(swapped: swapped, nanoseconds: nanoseconds, snapshotLength: snapshotLength, source: path)
        var used = 0
        if let carried, let source = carried.baseAddress, let target = chunk.storage.baseAddress, carried.count > 0 {
            // Overlap is allowed: `previous` may be `chunk` itself.
            target.copyMemory(from: source, byteCount: carried.count)
            used = carried.count
        }
        while used < chunk.storage.count, !atEnd {
            let count = read(descriptor, chunk.storage.baseAddress.map { $0 + used }, chunk.storage.count - used)
            if count < 0 {
                if errno == EINTR { continue }
                throw CaptureError("\(path): read failed: \(String(cString: strerror(errno)))")
            }
            if count == 0 {
                atEnd = true
                break
            }
            used += count
        }
        chunk.set(used: used, isFinal: atEnd)
        return used > 0
    }

}
