/// HTTP/1.x as framing: it carries identifiers of other families (a tracker announce in a
/// request line, a .torrent file or a magnet link in a body), which the extractors registered in
/// `Families.swift` pull out. A flow is HTTP's when a direction opens with a request method or a
/// status line.
public enum HTTP {
    /// The messages the HTTP family reports itself (`p2p.message`).
    public enum Message: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// A .torrent file downloaded.
        case torrent
        /// A magnet link in a request line or a text body.
        case magnet

        public var description: String {
            switch self {
            case .torrent: "http.torrent"
            case .magnet: "http.magnet"
            }
        }
    }

    /// What an HTTP observation carried besides its identifier (`p2p.context`).
    public struct Context: Sendable, Hashable {
        /// The .torrent file's description.
        public var torrent: TorrentInfo?

        public init(torrent: TorrentInfo? = nil) { self.torrent = torrent }

        public func write<W: FieldWriter>(to writer: inout W) {
            if let torrent { torrent.write(to: &writer) }
        }
    }

    /// Request methods a client stream may open with.
    static let methods: [[UInt8]] = ["GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "OPTIONS ", "CONNECT ", "PATCH ", "TRACE "].map { Array($0.utf8) }
    static let statusLine = Array("HTTP/1.".utf8)
    /// Every opening, in one array made once.
    static let openings = methods + [statusLine]

    /// Whether a direction's first bytes open HTTP: `.yes` for a request method or a status line,
    /// `.needMore` while they are a prefix of one, `.no` otherwise.
    static func recognise(_ first: UnsafeRawBufferPointer) -> Recognition {
        var undecided = false
        for opening in openings {
            let count = min(opening.count, first.count)
            var same = true
            for index in 0 ..< count where first[index] != opening[index] {
                same = false
                break
            }
            guard same else { continue }
            if count == opening.count { return .yes }
            undecided = true
        }
        return undecided ? .needMore : .no
    }

    /// The decoder state of an HTTP flow: per direction, the request-line scanner and the
    /// response framer (either side may turn out to be the server).
    struct StreamState {
        var requests = (toServer: HTTPRequestLineScanner(), toClient: HTTPRequestLineScanner())
        var responses = (toServer: HTTPResponseScanner(), toClient: HTTPResponseScanner())
        /// Whether a request asked for the header blocks to be read (a Gnutella transfer):
        /// most HTTP flows' headers are not looked at beyond what framing needs.
        var headersWanted = false

        /// Whether nothing more is read on either direction.
        var isDone: Bool {
            requests.toServer.isFinished && requests.toClient.isFinished && responses.toServer.isFinished && responses.toClient.isFinished
        }

        /// Body bytes held from the shared budget.
        var bytesHeld: Int { responses.toServer.bytesHeld + responses.toClient.bytesHeld }

        /// Gives back the inflaters the scanners hold.
        mutating func releaseInflaters() -> Int { responses.toServer.release() + responses.toClient.release() }

        /// Reads one in-order chunk of `direction`: the response framer first, then the request line.
        mutating func decode(_ chunk: StreamChunk, direction: FlowDirection, context: inout DecodeContext) -> DecodeStatus {
            switch direction {
            case .toServer:
                Self.response(&responses.toServer, chunk, headersWanted: headersWanted, context: &context)
                Self.request(&requests.toServer, chunk, headersWanted: &headersWanted, context: &context)
                return requests.toServer.isFinished && responses.toServer.isFinished ? .done : .more
            case .toClient:
                Self.response(&responses.toClient, chunk, headersWanted: headersWanted, context: &context)
                Self.request(&requests.toClient, chunk, headersWanted: &headersWanted, context: &context)
                return requests.toClient.isFinished && responses.toClient.isFinished ? .done : .more
            }
        }

        private static func response(_ scanner: inout HTTPResponseScanner, _ chunk: StreamChunk, headersWanted: Bool, context: inout DecodeContext) {
            guard !scanner.isFinished else { return }
            let overBefore = scanner.bodiesOverBudget
            // The budget is taken out while the scanner calls back into the context.
            let notInflatedBefore = scanner.bodiesNotInflated, overLimitBefore = scanner.bodiesOverInflateLimit
            var budget = context.budgets.httpBodyBytes, inflaters = context.budgets.inflaters
            defer {
                context.budgets.httpBodyBytes = budget
                context.budgets.inflaters = inflaters
                context.budgets.note(.httpBodyOverBudget, count: scanner.bodiesOverBudget - overBefore)
                context.budgets.note(.inflateMalformed, count: scanner.bodiesNotInflated - notInflatedBefore)
                context.budgets.note(.inflateOverLimit, count: scanner.bodiesOverInflateLimit - overLimitBefore)
            }
            scanner.consume(chunk, budget: &budget, inflaters: &inflaters) { finding in
                switch finding {
                case .torrentFile(let bytes):
                    guard let info = TorrentInfo(torrentFile: bytes) else { return }
                    for id in [info.infoHashV1, info.infoHashV2].compactMap({ $0 }) {
                        context.observe(Observation(proto: .http, message: .http(.torrent), role: .seeking, contentID: id, context: .http(Context(torrent: info))))
                    }
                case .magnet(let id):
                    context.observe(Observation(proto: .http, message: .http(.magnet), role: .seeking, contentID: id, context: .http(Context())))
                case .headers(let block, let status):
                    // Other families' identifiers in response headers (on flows whose request
                    // asked for them, or seen mid-way); they note their own sign.
                    if headersWanted { Families.extractFromResponseHeaders(block, status: status, context: &context) }
                    return
                }
                context.recognised(.http)
            }
        }

        private static func request(_ scanner: inout HTTPRequestLineScanner, _ chunk: StreamChunk, headersWanted: inout Bool, context: inout DecodeContext) {
            guard !scanner.isFinished else { return }
            var wanted = headersWanted
            scanner.consume(chunk, line: { line in
                let asked = Families.extractFromRequestLine(line, context: &context)
                if asked { wanted = true }
                return asked
            }, headers: { Families.extractFromRequestHeaders($0, context: &context) })
            headersWanted = wanted
        }
    }
}

extension MessageKind {
    public static let httpTorrent = MessageKind.http(.torrent)
    public static let httpMagnet = MessageKind.http(.magnet)
}
