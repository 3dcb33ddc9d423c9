extension BitTorrent {
    /// What a client told a tracker about its progress (`event` in BEP 3 and BEP 15).
    public enum TrackerEvent: UInt8, Sendable, Hashable, CustomStringConvertible {
        case none, completed, started, stopped

        public var description: String {
            switch self {
            case .none: "none"
            case .completed: "completed"
            case .started: "started"
            case .stopped: "stopped"
            }
        }
    }

    /// One announce or scrape, from an HTTP request line or a BEP 15 datagram.
    public struct TrackerRequest: Sendable {
        /// `true` for a scrape, `false` for an announce.
        public var isScrape: Bool
        /// The announcing client's peer id.
        public var peerID: PeerID?
        /// `event`, for an announce.
        public var event: TrackerEvent?
        /// `left`: bytes the client still needs; 0 means it is a seeder.
        public var bytesLeft: Int64?
        /// The port the client listens on.
        public var port: UInt16?
        /// Whether the request goes past its protocol's limits (a UDP scrape of more than 74
        /// hashes): decoded all the same, and counted as an anomaly.
        public var exceedsLimit = false

        /// A seeder announcing, or a client announcing it completed, offers the content.
        public var role: Role {
            if isScrape { return .seeking }
            if event == .completed || bytesLeft == 0 { return .offering }
            return .seeking
        }
    }

    /// HTTP tracker requests (BEP 3 announce, BEP 48 scrape): `GET /announce?info_hash=...`.
    public enum HTTPTracker {
        /// The tracker extractor HTTP's framing runs on each request line: every infohash of an
        /// announce or scrape, with the request's role and context.
        static func extract(requestLine line: UnsafeRawBufferPointer, context: inout DecodeContext) {
            let before = context.observations.count
            let request = decode(requestLine: line) { id in
                context.observe(Observation(.bittorrentTracker, .trackerAnnounce, role: .seeking, contentID: id))
            }
            guard let request else { return }
            context.recognised(.bittorrentTracker)
            for index in before ..< context.observations.count {
                context.observations[index].message = .bittorrent(request.isScrape ? .trackerScrape : .trackerAnnounce)
                context.observations[index].role = request.role
                context.observations[index].context = .bittorrent(Context(peerID: request.peerID, port: request.port,
                                                                          trackerEvent: request.event, bytesLeft: request.bytesLeft))
            }
        }

        /// Scrapes of more hashes than this are not real clients (BEP 15's UDP limit is 74).
        public static let maxInfoHashes = 256

        /// Decodes a request line. Calls `found` with each infohash (a scrape may carry many)
        /// and returns the request's details, or `nil` when it is not a tracker request.
        public static func decode(requestLine line: UnsafeRawBufferPointer, found: (ContentID) -> Void) -> TrackerRequest? {
            // "GET <target> HTTP/1.x": the target runs to the next space.
            guard let firstSpace = ByteSearch.firstIndex(of: 0x20, in: line) else { return nil }
            let afterMethod = UnsafeRawBufferPointer(rebasing: line[(firstSpace + 1)...])
            let targetEnd = ByteSearch.firstIndex(of: 0x20, in: afterMethod) ?? afterMethod.count
            let target = UnsafeRawBufferPointer(rebasing: afterMethod[0 ..< targetEnd])
            guard let question = ByteSearch.firstIndex(of: UInt8(ascii: "?"), in: target) else { return nil }
            let path = UnsafeRawBufferPointer(rebasing: target[0 ..< question])
            let query = UnsafeRawBufferPointer(rebasing: target[(question + 1)...])
            var request = TrackerRequest(isScrape: contains(path, "scrape"), peerID: nil, event: nil, bytesLeft: nil, port: nil)
            var hashes = 0
            forEachParameter(query) { name, value in
                if equals(name, "info_hash") {
                    hashes += 1
                    guard hashes <= maxInfoHashes else { return false }
                    let id = HTTPText.percentDecoded(value) { bytes -> ContentID? in
                        // A v2 client announces the SHA-256 infohash truncated to 20 bytes (BEP 52).
                        bytes.count == 20 ? ContentID(kind: .btih, bytes: bytes) : nil
                    }
                    if let id = id ?? nil { found(id) }
                } else if equals(name, "peer_id") {
                    request.peerID = HTTPText.percentDecoded(value) { PeerID(bytes: $0) } ?? nil
                } else if equals(name, "event") {
                    if equals(value, "completed") { request.event = .completed }
                    else if equals(value, "started") { request.event = .started }
                    else if equals(value, "stopped") { request.event = .stopped }
                    else { request.event = TrackerEvent.none }
                } else if equals(name, "left") {
                    request.bytesLeft = decimal(value)
                } else if equals(name, "port") {
                    request.port = decimal(value).flatMap { UInt16(exactly: $0) }
                }
                return true
            }
            return hashes > 0 ? request : nil
        }

        static func forEachParameter(_ query: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Bool) {
            var start = 0
            while start <= query.count {
                let rest = UnsafeRawBufferPointer(rebasing: query[start...])
                let end = ByteSearch.firstIndex(of: UInt8(ascii: "&"), in: rest) ?? rest.count
                let pair = UnsafeRawBufferPointer(rebasing: rest[0 ..< end])
                if !pair.isEmpty {
                    let equalsSign = ByteSearch.firstIndex(of: UInt8(ascii: "="), in: pair) ?? pair.count
                    let name = UnsafeRawBufferPointer(rebasing: pair[0 ..< equalsSign])
                    let value = equalsSign < pair.count ? UnsafeRawBufferPointer(rebasing: pair[(equalsSign + 1)...]) : UnsafeRawBufferPointer(rebasing: pair[pair.count...])
                    if !body(name, value) { return }
                }
                start += end + 1
            }
        }

        static func equals(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
            text.withUTF8Buffer { $0.count == bytes.count && $0.elementsEqual(bytes) }
        }

        static func contains(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
            HTTPText.contains(bytes, text)
        }

        static func decimal(_ bytes: UnsafeRawBufferPointer) -> Int64? {
            guard !bytes.isEmpty, bytes.count <= 18 else { return nil }
            var value: Int64 = 0
            for byte in bytes {
                guard (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            return value
        }
    }

    /// The UDP tracker protocol (BEP 15).
    ///
    /// ```
    /// connect request:  protocol_id 0x41727101980 (8) | action 0 (4) | transaction_id (4)
    /// connect response: action 0 (4) | transaction_id (4) | connection_id (8)
    /// announce:         connection_id (8) | action 1 (4) | transaction_id (4) | info_hash (20)
    ///                   | peer_id (20) | downloaded (8) | left (8) | uploaded (8) | event (4)
    ///                   | ip (4) | key (4) | num_want (4) | port (2)        = 98 bytes (+ BEP 41 options)
    /// scrape:           connection_id (8) | action 2 (4) | transaction_id (4) | info_hash (20) * n
    /// ```
    /// Announces and scrapes are decoded only on a flow where a connect request was seen, and,
    /// when its response was seen too, only with the connection id it handed out: a datagram
    /// that merely has the right size (a DNS answer, say) is never read as an announce.
    public enum UDPTracker {
        /// The magic constant of a connect request.
        public static let protocolID: UInt64 = 0x0000_0417_2710_1980
        /// BEP 15 caps a scrape at about 74 infohashes per datagram.
        public static let maxScrapeHashes = 74
        /// More than this is decoded only this far: 1,000 hashes fill a 20 KB datagram, which
        /// IP fragmentation can still carry; beyond is nobody's client.
        public static let hardScrapeLimit = 1_000

        /// What a flow has learned of the connect exchange.
        public struct Session: Sendable {
            var connectTransactionID: UInt32?
            var connectionID: UInt64?
            /// Whether the flow has shown a connect request.
            public var isTracker: Bool { connectTransactionID != nil }
            public init() {}
        }

        /// Reads one datagram of a flow; calls `found` with each infohash of an announce or scrape.
        /// - Returns: the request's details when it was an announce or scrape, else `nil`.
        public static func decode(
            _ datagram: UnsafeRawBufferPointer, session: inout Session, found: (ContentID) -> Void
        ) -> TrackerRequest? {
            var reader = ByteReader(datagram)
            guard datagram.count >= 16, let first = reader.readInteger(as: UInt64.self),
                  let action = reader.readInteger(as: UInt32.self), let transaction = reader.readInteger(as: UInt32.self)
            else { return nil }
            if datagram.count == 16, first == protocolID, action == 0 {
                session.connectTransactionID = transaction
                return nil
            }
            guard let expected = session.connectTransactionID else { return nil }
            // A connect response: action 0, our transaction id, then the connection id.
            if datagram.count >= 16, UInt32(truncatingIfNeeded: first >> 32) == 0, UInt32(truncatingIfNeeded: first) == expected {
                session.connectionID = UInt64(action) << 32 | UInt64(transaction)
                return nil
            }
            if let connectionID = session.connectionID, first != connectionID { return nil }
            switch action {
            case 1:
                guard datagram.count >= 98, let hash = reader.readBytes(count: 20), let id = ContentID(kind: .btih, bytes: hash),
                      let peer = reader.readBytes(count: 20), reader.skip(8), let left = reader.readInteger(as: UInt64.self),
                      reader.skip(8), let event = reader.readInteger(as: UInt32.self), reader.skip(12),
                      let port = reader.readInteger(as: UInt16.self)
                else { return nil }
                found(id)
                return TrackerRequest(isScrape: false, peerID: PeerID(bytes: peer), event: TrackerEvent(rawValue: UInt8(truncatingIfNeeded: min(event, 4))),
                                      bytesLeft: Int64(clamping: left), port: port)
            case 2:
                let count = reader.remaining / 20
                guard count >= 1, reader.remaining % 20 == 0 else { return nil }
                for _ in 0 ..< min(count, hardScrapeLimit) {
                    if let hash = reader.readBytes(count: 20), let id = ContentID(kind: .btih, bytes: hash) { found(id) }
                }
                var request = TrackerRequest(isScrape: true, peerID: nil, event: nil, bytesLeft: nil, port: nil)
                request.exceedsLimit = count > maxScrapeHashes
                return request
            default:
                return nil
            }
        }
    }
}
