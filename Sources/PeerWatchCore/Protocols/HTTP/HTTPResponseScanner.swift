/// Follows the HTTP/1.x responses of one direction of a connection: frames each body
/// (Content-Length, chunked, or until the connection closes), collects a .torrent file's body,
/// and scans text bodies for magnet links. Everything it holds is bounded, per flow and, for
/// collected bodies, by a budget all flows share; every byte is looked at once (a body with no
/// declared length is known complete by a streaming end-finder, not by re-parsing it).
public struct HTTPResponseScanner {
    /// Larger header blocks are not real responses.
    public static let maxHeaderBlock = 16 * 1024
    /// Body bytes followed per direction before the scanner lets the connection go.
    public static let maxFollowedBody = 64 * 1024 * 1024
    /// Text body bytes scanned for magnet links per direction: a torrent index page is a few
    /// hundred KiB; more is not worth the cycles.
    public static let maxScannedText = 4 * 1024 * 1024
    /// A body that is neither a .torrent nor text and still has this much to come is a bulk
    /// download (a video, an update): nothing follows it on the connection worth the cycles.
    public static let maxSkippedBody = 1024 * 1024
    /// Responses followed per direction; a long keep-alive connection is a browser or an API
    /// client, not a torrent download.
    public static let maxResponses = 64

    /// What a response carried.
    public enum Finding {
        /// A complete .torrent body.
        case torrentFile(UnsafeRawBufferPointer)
        /// An identifier of a magnet link in a text body.
        case magnet(ContentID)
        /// A response's header block (status line included), and its status code.
        case headers(UnsafeRawBufferPointer, status: Int)
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
    private var responses = 0
    private var textScanned = 0
    private var magnets = MagnetStreamScanner()
    private var probe: [UInt8] = []
    private var end = Bencode.EndFinder()
    private var torrentComplete = false
    /// Bytes of the shared body budget this scanner holds now.
    public private(set) var bytesHeld = 0
    /// Bodies that could not be collected because the shared budget was spent.
    public private(set) var bodiesOverBudget = 0
    /// Collected body bytes looked at to find where a .torrent ends (for tests: each byte once).
    private(set) var bytesExaminedForEnd = 0
    /// Body bytes looked at to recognise a .torrent (its longest usual opening is 17 bytes).
    static let probeLength = 24
    /// What one compressed body may inflate to: a .torrent's cap, or the text scanned.
    static let maxInflatedBody = max(TorrentInfo.maxLength, maxScannedText)

    /// How a body is compressed, from its `Content-Encoding`.
    private enum Coding: Sendable {
        case identity
        case gzip
        case deflate
        /// An encoding not read (br, zstd, compress): the body is skipped.
        case other
    }

    private var coding = Coding.identity
    /// The inflater of a gzip or deflate body being read (one at a time per direction).
    private var inflater: Inflater?
    /// Inflaters this scanner may still start, for the call in progress (from the budget all
    /// flows share; given back when a body ends).
    private var inflatersAvailable = 0
    /// Whether the scanner holds an inflater from the shared budget.
    public var holdsInflater: Bool { inflater != nil }
    /// Compressed bodies that could not be read: bad data, or no inflater left.
    public private(set) var bodiesNotInflated = 0
    /// Compressed bodies that would inflate past `maxInflatedBody` (a bomb): read that far.
    public private(set) var bodiesOverInflateLimit = 0

    public init() {}

    /// Whether the scanner wants no more bytes.
    public var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    /// Takes one chunk of the stream.
    /// - Parameter budget: body bytes all flows may still collect; what this scanner collects
    ///   is taken from it, and given back when the body is done with.
    /// Takes one chunk of the stream, inflating gzip and deflate bodies with inflaters taken
    /// from `inflaters` (and given back to it when their bodies end).
    public mutating func consume(_ chunk: StreamChunk, budget: inout Int, inflaters: inout Int, found: (Finding) -> Void) {
        inflatersAvailable = inflaters
        consume(chunk, budget: &budget, found: found)
        inflaters = inflatersAvailable
        inflatersAvailable = 0
    }

    public mutating func consume(_ chunk: StreamChunk, budget: inout Int, found: (Finding) -> Void) {
        guard case .data(var bytes) = chunk else {
            return finish(budget: &budget)
        }
        while !bytes.isEmpty {
            switch state {
            case .finished:
                return
            case .start:
                guard Self.startsLikeAResponse(bytes) else { return finish(budget: &budget) }
                state = .headers
            case .headers:
                bytes = takeHeaders(bytes, budget: &budget, found: found)
            case .body:
                bytes = takeBody(bytes, budget: &budget, found: found)
            }
        }
    }

    /// Whether `bytes` begin like `HTTP/1.` (as far as they go).
    static func startsLikeAResponse(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let opening: StaticString = "HTTP/1."
        let count = min(opening.utf8CodeUnitCount, bytes.count)
        for index in 0 ..< count where bytes[index] != opening.utf8Start[index] { return false }
        return true
    }

    private mutating func finish(budget: inout Int) {
        state = .finished
        header = []
        dropTorrent(budget: &budget)
        endInflater()
        line = []
    }

    /// Lets go of a body's inflater, back to the shared budget.
    private mutating func endInflater() {
        guard inflater != nil else { return }
        inflater = nil
        inflatersAvailable += 1
    }

    /// Gives back what the scanner holds when its flow ends between calls: the inflater count
    /// it took.
    public mutating func release() -> Int {
        guard inflater != nil else { return 0 }
        inflater = nil
        return 1
    }

    /// Lets go of a collected body, giving its bytes back to the budget.
    private mutating func dropTorrent(budget: inout Int) {
        torrent = []
        isTorrent = false
        torrentComplete = false
        budget += bytesHeld
        bytesHeld = 0
    }

    /// Takes `count` bytes from the budget for the body being collected; `false` if it is spent.
    private mutating func reserve(_ count: Int, budget: inout Int) -> Bool {
        guard count <= budget else { return false }
        budget -= count
        bytesHeld += count
        return true
    }

    // MARK: - Headers

    private mutating func takeHeaders(_ bytes: UnsafeRawBufferPointer, budget: inout Int, found: (Finding) -> Void) -> UnsafeRawBufferPointer {
        if header.isEmpty, responses >= Self.maxResponses {
            finish(budget: &budget)
            return UnsafeRawBufferPointer(rebasing: bytes[bytes.count...])
        }
        let searchFrom = max(0, header.count - 3)
        let room = Self.maxHeaderBlock - header.count
        let take = min(bytes.count, room)
        header.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0 ..< take]))
        guard let end = header.withUnsafeBytes({ HTTPText.headerBlockEnd(in: $0, from: searchFrom) }) else {
            if header.count >= Self.maxHeaderBlock { finish(budget: &budget) }
            return UnsafeRawBufferPointer(rebasing: bytes[bytes.count...])
        }
        let usedFromThisChunk = end - (header.count - take)
        header.withUnsafeBytes { beginMessage(UnsafeRawBufferPointer(rebasing: $0[0 ..< end]), budget: &budget, found: found) }
        header.removeAll(keepingCapacity: true)
        return UnsafeRawBufferPointer(rebasing: bytes[usedFromThisChunk...])
    }

    private mutating func beginMessage(_ block: UnsafeRawBufferPointer, budget: inout Int, found: (Finding) -> Void) {
        var status = 0
        var contentLength: Int?
        var chunked = false
        var contentType: UnsafeRawBufferPointer?
        var encoded = false
        coding = .identity
        endInflater()
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
                if Self.containsLowercased(trimmed, "gzip") { coding = .gzip }
                else if Self.containsLowercased(trimmed, "deflate") { coding = .deflate }
                else if encoded { coding = .other }
            }
            return true
        }
        found(.headers(block, status: status))
        isTorrent = contentType.map { Self.containsLowercased($0, "bittorrent") } ?? false
        isText = !encoded && (contentType.map { type in
            Self.containsLowercased(type, "text/") || Self.containsLowercased(type, "json") || Self.containsLowercased(type, "xml")
                || Self.containsLowercased(type, "javascript")
        } ?? true)
        // gzip and deflate bodies are read inflated; other encodings are skipped.
        if encoded, coding == .other { isTorrent = false; isText = false }
        if coding == .gzip || coding == .deflate {
            isText = contentType.map { type in
                Self.containsLowercased(type, "text/") || Self.containsLowercased(type, "json") || Self.containsLowercased(type, "xml")
                    || Self.containsLowercased(type, "javascript")
            } ?? true
        }
        bodySeen = 0
        responses += 1
        torrent = []
        budget += bytesHeld
        bytesHeld = 0
        torrentComplete = false
        end = Bencode.EndFinder()
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
        if case .none = framing { endMessage(budget: &budget, found: { _ in }) } else { state = .body }
    }

    // MARK: - Bodies

    private mutating func takeBody(_ bytes: UnsafeRawBufferPointer, budget: inout Int, found: (Finding) -> Void) -> UnsafeRawBufferPointer {
        switch framing {
        case .none:
            state = .headers
            return bytes
        case .untilClose:
            bodyData(bytes, budget: &budget, found: found)
            // No length: the end-finder says when the .torrent is whole, looking at each byte once.
            if isTorrent, torrentComplete { emitTorrentIfComplete(budget: &budget, found: found) }
            return UnsafeRawBufferPointer(rebasing: bytes[bytes.count...])
        case .length(let remaining):
            let take = min(remaining, bytes.count)
            bodyData(UnsafeRawBufferPointer(rebasing: bytes[0 ..< take]), budget: &budget, found: found)
            if take == remaining {
                endMessage(budget: &budget, found: found)
            } else {
                framing = .length(remaining - take)
            }
            return UnsafeRawBufferPointer(rebasing: bytes[take...])
        case .chunked:
            return takeChunked(bytes, budget: &budget, found: found)
        }
    }

    private mutating func takeChunked(_ bytes: UnsafeRawBufferPointer, budget: inout Int, found: (Finding) -> Void) -> UnsafeRawBufferPointer {
        var index = 0
        while index < bytes.count, case .body = state {
            switch chunkPhase {
            case .size, .trailers, .dataEnd:
                let byte = bytes[index]
                index += 1
                guard byte == 0x0A else {
                    line.append(byte)
                    if line.count > 256 { finish(budget: &budget) }
                    continue
                }
                let text = line
                line.removeAll(keepingCapacity: true)
                switch chunkPhase {
                case .dataEnd:
                    chunkPhase = .size
                case .trailers:
                    if text.isEmpty || text == [0x0D] { endMessage(budget: &budget, found: found) }
                case .size:
                    guard let size = Self.chunkSize(text) else { finish(budget: &budget); break }
                    chunkPhase = size == 0 ? .trailers : .data(size)
                case .data:
                    break
                }
            case .data(let remaining):
                let take = min(remaining, bytes.count - index)
                bodyData(UnsafeRawBufferPointer(rebasing: bytes[index ..< index + take]), budget: &budget, found: found)
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

    private mutating func bodyData(_ bytes: UnsafeRawBufferPointer, budget: inout Int, found: (Finding) -> Void) {
        guard !bytes.isEmpty else { return }
        guard coding == .gzip || coding == .deflate else { return plainBody(bytes, budget: &budget, found: found) }
        if inflater == nil {
            // Worth inflating only while the body may still be a .torrent or is text.
            guard isTorrent || isText || bodySeen < Self.probeLength, bodySeen == 0 else { return }
            guard inflatersAvailable > 0 else {
                bodiesNotInflated += 1
                coding = .other
                return
            }
            // "deflate" is zlib as the RFC says, or raw deflate as some servers send it.
            let zlibHeader = bytes.count >= 2 && bytes[0] & 0x0F == 8 && (Int(bytes[0]) << 8 | Int(bytes[1])) % 31 == 0
            guard let made = Inflater(format: coding == .gzip ? .gzip : zlibHeader ? .zlib : .raw) else { return }
            inflatersAvailable -= 1
            inflater = made
        }
        guard let inflater else { return }
        let outcome = inflater.inflate(bytes, limit: Self.maxInflatedBody) { plain in
            plainBody(plain, budget: &budget, found: found)
        }
        switch outcome {
        case .needsInput:
            break
        case .finished:
            endInflater()
        case .limitReached:
            bodiesOverInflateLimit += 1
            endInflater()
            coding = .other
        case .malformed:
            bodiesNotInflated += 1
            endInflater()
            coding = .other
        }
    }

    /// Body bytes as they are (or inflated).
    private mutating func plainBody(_ bytes: UnsafeRawBufferPointer, budget: inout Int, found: (Finding) -> Void) {
        guard !bytes.isEmpty else { return }
        if !isTorrent, bodySeen < Self.probeLength {
            // Whether the body is a .torrent shows in its first bytes, which may come one by one.
            let before = probe.count
            probe.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0 ..< min(bytes.count, Self.probeLength - bodySeen)]))
            if probe.withUnsafeBytes({ TorrentInfo.looksLikeTorrentFile($0) }) {
                if reserve(before, budget: &budget) {
                    isTorrent = true
                    torrent = Array(probe.prefix(before))
                    torrent.withUnsafeBytes { track($0) }
                    if !isTorrent { dropTorrent(budget: &budget) }
                } else {
                    bodiesOverBudget += 1
                }
            }
        }
        bodySeen += bytes.count
        followed += bytes.count
        if isTorrent {
            if torrent.count + bytes.count <= TorrentInfo.maxLength, reserve(bytes.count, budget: &budget) {
                torrent.append(contentsOf: bytes)
                track(bytes)
                if !isTorrent { dropTorrent(budget: &budget) }
            } else {
                if torrent.count + bytes.count <= TorrentInfo.maxLength { bodiesOverBudget += 1 }
                dropTorrent(budget: &budget)
            }
        } else if isText, textScanned < Self.maxScannedText {
            textScanned += bytes.count
            magnets.consume(bytes) { found(.magnet($0)) }
        }
        if followed > Self.maxFollowedBody { finish(budget: &budget) }
        // A body past its opening that is neither a .torrent nor text: the direction is done
        // when nothing can be framed after it (no length) or it is a bulk download.
        if !isTorrent, !isText, bodySeen >= Self.probeLength {
            switch framing {
            case .untilClose: finish(budget: &budget)
            case .length(let remaining) where remaining > Self.maxSkippedBody: finish(budget: &budget)
            default: break
            }
        }
    }

    /// Feeds newly collected body bytes to the end-finder; a body that is no bencoded value
    /// stops being collected.
    private mutating func track(_ bytes: UnsafeRawBufferPointer) {
        guard !torrentComplete else { return }
        bytesExaminedForEnd += bytes.count
        switch end.consume(bytes) {
        case .complete: torrentComplete = true
        case .malformed: isTorrent = false
        case .incomplete: break
        }
    }

    private mutating func endMessage(budget: inout Int, found: (Finding) -> Void) {
        if isTorrent { emitTorrentIfComplete(budget: &budget, found: found) }
        dropTorrent(budget: &budget)
        endInflater()
        framing = .none
        if case .finished = state { return }
        state = .headers
    }

    private mutating func emitTorrentIfComplete(budget: inout Int, found: (Finding) -> Void) {
        guard torrentComplete else { return }
        torrent.withUnsafeBytes { found(.torrentFile($0)) }
        dropTorrent(budget: &budget)
    }

    private static func containsLowercased(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
        HTTPText.contains(bytes, text)
    }
}
