import Crypto
import Foundation
import PeerWatchCore

/// Reads a watch-list file once, in pieces, hashing what it reads: memory stays at one piece
/// whatever the file's size, the SHA-256 is of exactly the bytes parsed, and nothing is mapped
/// (a file truncated while it is read cannot kill the process with SIGBUS). A file that changes
/// while it is read (its size, inode or modification time differ at the end, or it ends early)
/// is refused: the list in use stays.
enum WatchListFile {
    /// Bytes read at a time.
    static let pieceSize = 4 << 20

    /// What reading found.
    struct Summary {
        /// Lowercase hex SHA-256 of the bytes read.
        var sha256: String
        /// Bytes read.
        var size: Int
    }

    /// The file's first bytes (for telling its format), or `nil` if it cannot be read.
    static func sample(_ path: String, count: Int = 64 * 1024) throws(ConfigurationError) -> (bytes: [UInt8], size: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw unreadable(path) }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else { throw unreadable(path) }
        var bytes = [UInt8](repeating: 0, count: count)
        let got = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, 0) }
        guard got >= 0 else { throw unreadable(path) }
        bytes.removeLast(count - got)
        return (bytes, Int(status.st_size))
    }

    /// Reads `path` from start to end, handing each piece to `piece` in order.
    /// - Throws: `ConfigurationError` naming the file, with the system's reason, when it cannot
    ///   be read or changed while it was read.
    static func read(_ path: String, piece: (UnsafeRawBufferPointer) -> Void) throws(ConfigurationError) -> Summary {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw unreadable(path) }
        defer { close(fd) }
        var before = stat()
        guard fstat(fd, &before) == 0 else { throw unreadable(path) }
        guard before.st_mode & S_IFMT == S_IFREG else {
            throw ConfigurationError(code: .unreadable, file: path, line: nil, message: "not a regular file")
        }
        var hasher = SHA256()
        var total = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pieceSize, alignment: 16)
        defer { buffer.deallocate() }
        // At most one byte past the size it had: a file that keeps growing is not read forever.
        let limit = Int(before.st_size) + 1
        while total < limit {
            let got = Glibc.read(fd, buffer.baseAddress, min(pieceSize, limit - total))
            if got < 0 {
                if errno == EINTR { continue }
                throw unreadable(path)
            }
            if got == 0 { break }
            total += got
            guard total <= Int(before.st_size) else { break }
            let bytes = UnsafeRawBufferPointer(rebasing: buffer[0 ..< got])
            hasher.update(bufferPointer: bytes)
            piece(bytes)
        }
        var after = stat()
        guard fstat(fd, &after) == 0 else { throw unreadable(path) }
        guard total == Int(before.st_size), after.st_size == before.st_size, after.st_ino == before.st_ino,
              after.st_mtim.tv_sec == before.st_mtim.tv_sec, after.st_mtim.tv_nsec == before.st_mtim.tv_nsec
        else {
            throw ConfigurationError(code: .unreadable, file: path, line: nil,
                                     message: "the file changed while it was read (\(before.st_size) bytes at the start, \(total) read, \(after.st_size) at the end); the lists in use stay")
        }
        return Summary(sha256: Hex.encode(Array(hasher.finalize())), size: total)
    }

    /// Reads a whole file of at most `limit` bytes (a .torrent).
    static func readAll(_ path: String, limit: Int) throws(ConfigurationError) -> (bytes: [UInt8], summary: Summary) {
        var bytes: [UInt8] = []
        var tooLarge = false
        let summary = try read(path) { piece in
            if bytes.count + piece.count > limit { tooLarge = true } else { bytes.append(contentsOf: piece) }
        }
        guard !tooLarge else { throw ConfigurationError(code: .malformedLine, file: path, line: nil, message: "larger than \(limit >> 20) MiB") }
        return (bytes, summary)
    }

    /// "cannot read the watch list: <the system's reason>".
    static func unreadable(_ path: String) -> ConfigurationError {
        ConfigurationError(code: .unreadable, file: path, line: nil, message: "cannot read the watch list: \(String(cString: strerror(errno)))")
    }
}

/// Splits pieces of a file into lines (LF or CR LF), numbered from 1, carrying a line cut
/// between pieces over to the next. A line longer than `maxLength` is reported as such (its
/// bytes are not kept) and reading goes on at the next line.
struct LineSplitter {
    let maxLength: Int
    private var carry: [UInt8] = []
    private var carryTooLong = false
    private var carryLength = 0
    private(set) var lineNumber = 0
    private var atStart = true

    init(maxLength: Int) { self.maxLength = maxLength }

    /// What `body` is handed for each line.
    enum Line {
        /// The line's bytes, without its line ending (and without a leading byte-order mark).
        case text(UnsafeRawBufferPointer)
        /// A line of `length` bytes, too long to be an entry.
        case tooLong(length: Int)
    }

    /// Splits one piece, calling `body` with each complete line and its number.
    mutating func feed(_ piece: UnsafeRawBufferPointer, _ body: (Line, Int) -> Void) {
        var start = 0
        if atStart, !piece.isEmpty {
            atStart = false
            if piece.count >= 3, piece[0] == 0xEF, piece[1] == 0xBB, piece[2] == 0xBF { start = 3 }
        }
        while start < piece.count {
            guard let newline = ByteSearch.firstIndex(of: 0x0A, in: piece, from: start) else {
                keep(UnsafeRawBufferPointer(rebasing: piece[start...]))
                return
            }
            let part = UnsafeRawBufferPointer(rebasing: piece[start ..< newline])
            lineNumber += 1
            if carryLength == 0 {
                emit(part, body)
            } else {
                keep(part)
                finishCarry(body)
            }
            start = newline + 1
        }
    }

    /// The last line, if the file does not end with a newline.
    mutating func finish(_ body: (Line, Int) -> Void) {
        guard carryLength > 0 else { return }
        lineNumber += 1
        finishCarry(body)
    }

    private mutating func keep(_ part: UnsafeRawBufferPointer) {
        carryLength += part.count
        if carryLength > maxLength + 1 {
            carryTooLong = true
            carry.removeAll(keepingCapacity: true)
        } else {
            carry.append(contentsOf: part)
        }
    }

    private mutating func finishCarry(_ body: (Line, Int) -> Void) {
        if carryTooLong {
            body(.tooLong(length: carryLength), lineNumber)
        } else {
            carry.withUnsafeBytes { emit($0, body) }
        }
        carry.removeAll(keepingCapacity: true)
        carryLength = 0
        carryTooLong = false
    }

    private func emit(_ line: UnsafeRawBufferPointer, _ body: (Line, Int) -> Void) {
        var line = line
        if line.last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line[0 ..< line.count - 1]) }
        if line.count > maxLength {
            body(.tooLong(length: line.count), lineNumber)
        } else {
            body(.text(line), lineNumber)
        }
    }
}
