/// Follows the HTTP/1.x responses of one direction of a connection: frames each body
/// (Content-Length, chunked, or until the connection closes), collects a .torrent file's body,
/// and scans text bodies for magnet links. Everything it holds is bounded.
public struct HTTPResponseScanner: Sendable {
    /// Larger header blocks are not real responses.
    public static let maxHeaderBlock = 16 * 1024
    /// Body bytes followed per direction before the scanner lets the connection go.
    public static let maxFollowedBody = 64 * 1024 * 1024
    /// Text body bytes scanned for magnet links per direction: a torrent index page is a few
    /// hundred KiB; more is not worth the cycles.
    public static let maxScannedText = 4 * 1024 * 1024

    /// What a response carried.
    public enum Finding {
        /// A complete .torrent body.
        case torrentFile(UnsafeRawBufferPointer)
        /// An identifier of a magnet link in a text body.
        case magnet(ContentID)
    }

    private enum Framing: Sendable {
        case length(Int)
        case chunked
        case untilClose
        case none
    }

    private enum ChunkPhase: Sendable {
        case size
        case data(Int)
        case dataEnd
        case trailers
    }

    private enum State: Sendable {
        case start
        case headers
        case body
        case finished
    }

    private var state = State.start
    private var header: [UInt8] = []
    private var framing = Framing.none
    private var chunkPhase = ChunkPhase.size
    private var line: [UInt8] = []
    private var isTorrent = false
    private var isText = false
    private var torrent: [UInt8] = []
    private var bodySeen = 0
    private var followed = 0
    private var textScanned = 0
    private var magnets = MagnetStreamScanner()
    private var probe: [UInt8] = []
    /// Body bytes looked at to recognise a .torrent (its longest usual opening is 17 bytes).
    static let probeLength = 24

    public init() {}

    /// Whether the scanner wants no more bytes.
    public var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    /// Takes one chunk of the stream.
    public mutating func consume(_ chunk: StreamChunk, found: (Finding) -> Void) {
        guard case .data(var bytes) = chunk else {
            return finish()
        }
        while !bytes.isEmpty {
            switch state {
            case .finished:
                return
            case .start:
                let opening = Array("HTTP/1.".utf8)
                guard ByteReader(bytes).starts(with: opening.prefix(min(opening.count, bytes.count))) else { return finish() }
                state = .headers
            case .headers:
                bytes = takeHeaders(bytes)
            case .body:
                bytes = takeBody(bytes, found: found)
            }
        }
    }

    private mutating func finish() {
        state = .finished
        header = []
        torrent = []
        line = []
    }

    // MARK: - Headers

    private mutating func takeHeaders(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        let searchFrom = max(0, header.count - 3)
        let room = Self.maxHeaderBlock - header.count
        let take = min(bytes.count, room)
        header.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0 ..< take]))
        var end: Int?
        header.withUnsafeBytes { raw in
            var index = searchFrom
            while index + 3 < raw.count {
                if raw[index] == 0x0D, raw[index + 1] == 0x0A, raw[index + 2] == 0x0D, raw[index + 3] == 0x0A {
                    end = index + 4
                    return
                }
                index += 1
            }
        }
        guard let end else {
            if header.count >= Self.maxHeaderBlock { finish() }
            return UnsafeRawBufferPointer(rebasing: bytes[bytes.count...])
        }
        let usedFromThisChunk = end - (header.count - take)
        header.withUnsafeBytes { beginMessage(UnsafeRawBufferPointer(rebasing: $0[0 ..< end])) }
        header.removeAll(keepingCapacity: true)
        return UnsafeRawBufferPointer(rebasing: bytes[usedFromThisChunk...])
    }

    private mutating func beginMessage(_ block: UnsafeRawBufferPointer) {
        var status = 0
        var contentLength: Int?
        var chunked = false
        var contentType: UnsafeRawBufferPointer?
        var encoded = false
        var first = true
        HTTPText.forEachLine(block) { line in
            if first {
                first = false
                // "HTTP/1.1 200 OK"
                if line.count >= 12 {
                    status = (9 ..< 12).reduce(0) { $0 * 10 + Int(line[$1] &- UInt8(ascii: "0")) }
                }
                return true
            }
            if let value = HTTPText.headerValue(line, name: "content-length") {
                contentLength = BitTorrent.HTTPTracker.decimal(HTTPText.trim(value)).flatMap { Int(exactly: $0) }
            } else if let value = HTTPText.headerValue(line, name: "transfer-encoding") {
                chunked = Self.containsLowercased(value, "chunked")
            } else if let value = HTTPText.headerValue(line, name: "content-type") {
                contentType = value
            } else if let value = HTTPText.headerValue(line, name: "content-encoding") {
                let trimmed = HTTPText.trim(value)
                encoded = !(trimmed.isEmpty || Self.containsLowercased(trimmed, "identity"))
            }
            return true
        }
        isTorrent = contentType.map { Self.containsLowercased($0, "bittorrent") } ?? false
        isText = !encoded && (contentType.map { type in
            Self.containsLowercased(type, "text/") || Self.containsLowercased(type, "json") || Self.containsLowercased(type, "xml")
                || Self.containsLowercased(type, "javascript")
        } ?? true)
        if encoded { isTorrent = false }
        bodySeen = 0
        torrent = []
        probe.removeAll(keepingCapacity: true)
        magnets = MagnetStreamScanner()
        if (100 ..< 200).contains(status) || status == 204 || status == 304 {
            framing = .none
        } else if chunked {
            framing = .chunked
            chunkPhase = .size
        } else if let contentLength {
            framing = .length(contentLength)
        } else {
            framing = .untilClose
        }
        if case .length(0) = framing { framing = .none }
        if case .none = framing { endMessage(found: { _ in }) } else { state = .body }
    }

    // MARK: - Bodies

    private mutating func takeBody(_ bytes: UnsafeRawBufferPointer, found: (Finding) -> Void) -> UnsafeRawBufferPointer {
        switch framing {
        case .none:
            state = .headers
            return bytes
        case .untilClose:
            bodyData(bytes, found: found)
            if isTorrent, torrent.last == UInt8(ascii: "e") { emitTorrentIfComplete(found: found) }
            return UnsafeRawBufferPointer(rebasing: bytes[bytes.count...])
        case .length(let remaining):
            let take = min(remaining, bytes.count)
            bodyData(UnsafeRawBufferPointer(rebasing: bytes[0 ..< take]), found: found)
            if take == remaining {
                endMessage(found: found)
            } else {
                framing = .length(remaining - take)
            }
            return UnsafeRawBufferPointer(rebasing: bytes[take...])
        case .chunked:
            return takeChunked(bytes, found: found)
        }
    }

    private mutating func takeChunked(_ bytes: UnsafeRawBufferPointer, found: (Finding) -> Void) -> UnsafeRawBufferPointer {
        var index = 0
        while index < bytes.count, case .body = state {
            switch chunkPhase {
            case .size, .trailers, .dataEnd:
                let byte = bytes[index]
                index += 1
                guard byte == 0x0A else {
                    line.append(byte)
                    if line.count > 256 { finish() }
                    continue
                }
                let text = line
                line.removeAll(keepingCapacity: true)
                switch chunkPhase {
                case .dataEnd:
                    chunkPhase = .size
                case .trailers:
                    if text.isEmpty || text == [0x0D] { endMessage(found: found) }
                case .size:
                    guard let size = Self.chunkSize(text) else { finish(); break }
                    chunkPhase = size == 0 ? .trailers : .data(size)
                case .data:
                    break
                }
            case .data(let remaining):
                let take = min(remaining, bytes.count - index)
                bodyData(UnsafeRawBufferPointer(rebasing: bytes[index ..< index + take]), found: found)
                index += take
                chunkPhase = take == remaining ? .dataEnd : .data(remaining - take)
            }
        }
        return UnsafeRawBufferPointer(rebasing: bytes[index...])
    }

    private static func chunkSize(_ line: [UInt8]) -> Int? {
        var value = 0
        var digits = 0
        for byte in line {
            guard let digit = Hex.value(of: byte) else { break }   // ";extension" or CR ends the size
            digits += 1
            guard digits <= 8 else { return nil }
            value = value << 4 | Int(digit)
        }
        return digits > 0 ? value : nil
    }

    private mutating func bodyData(_ bytes: UnsafeRawBufferPointer, found: (Finding) -> Void) {
        guard !bytes.isEmpty else { return }
        if !isTorrent, bodySeen < Self.probeLength {
            // Whether the body is a .torrent shows in its first bytes, which may come one by one.
            let before = probe.count
            probe.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0 ..< min(bytes.count, Self.probeLength - bodySeen)]))
            if probe.withUnsafeBytes({ TorrentInfo.looksLikeTorrentFile($0) }) {
                isTorrent = true
                torrent = Array(probe.prefix(before))
            }
        }
        bodySeen += bytes.count
        followed += bytes.count
        if isTorrent {
            if torrent.count + bytes.count <= TorrentInfo.maxLength {
                torrent.append(contentsOf: bytes)
            } else {
                isTorrent = false
                torrent = []
            }
        } else if isText, textScanned < Self.maxScannedText {
            textScanned += bytes.count
            magnets.consume(bytes) { found(.magnet($0)) }
        }
        if followed > Self.maxFollowedBody { finish() }
    }

    private mutating func endMessage(found: (Finding) -> Void) {
        if isTorrent { emitTorrentIfComplete(found: found) }
        torrent = []
        isTorrent = false
        framing = .none
        if case .finished = state { return }
        state = .headers
    }

    private mutating func emitTorrentIfComplete(found: (Finding) -> Void) {
        let complete = torrent.withUnsafeBytes { raw -> Bool in
            var reader = ByteReader(raw)
            return (try? Bencode.skipValue(&reader)) != nil
        }
        guard complete else { return }
        torrent.withUnsafeBytes { found(.torrentFile($0)) }
        torrent = []
        isTorrent = false
    }

    private static func containsLowercased(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        BitTorrent.HTTPTracker.contains(bytes, text)
    }
}
