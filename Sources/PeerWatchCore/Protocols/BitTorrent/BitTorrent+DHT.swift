extension BitTorrent {
    /// The Mainline DHT (BEP 5): KRPC messages, bencoded dictionaries over UDP.
    ///
    /// ```
    /// query:    d1:ad2:id20:<node>9:info_hash20:<hash>e1:q9:get_peers1:t2:aa1:y1:qe
    /// response: d1:rd2:id20:<node>5:token8:...6:valueslee1:t2:aa1:y1:re
    /// ```
    public enum DHT {
        /// KRPC nests at most three levels (message, arguments, a list of values); a little room
        /// is left for extensions. Suricata's DHT parser draws the same line.
        public static let maxDepth = 4
        /// The largest datagram a DHT node sends (BEP 5 keeps messages under 1,500 bytes; BEP 44
        /// values reach ~1,000 bytes). Larger is not DHT.
        public static let maxMessageLength = 4_096

        /// A KRPC method (`q`).
        public enum Method: UInt8, Sendable, Hashable {
            case ping, findNode, getPeers, announcePeer, sampleInfohashes, get, put, other

            init(_ name: UnsafeRawBufferPointer) {
                func equals(_ text: StaticString) -> Bool {
                    text.withUTF8Buffer { $0.count == name.count && $0.elementsEqual(name) }
                }
                if equals("get_peers") { self = .getPeers }
                else if equals("announce_peer") { self = .announcePeer }
                else if equals("find_node") { self = .findNode }
                else if equals("ping") { self = .ping }
                else if equals("sample_infohashes") { self = .sampleInfohashes }
                else if equals("get") { self = .get }
                else if equals("put") { self = .put }
                else { self = .other }
            }
        }

        /// What a message is (`y`).
        public enum Kind: Sendable, Hashable {
            case query(Method)
            case response
            case error
        }

        /// A KRPC transaction id (`t`): usually two bytes; up to eight are kept.
        public struct TransactionID: Sendable, Hashable {
            let value: UInt64
            let count: UInt8

            init(_ bytes: UnsafeRawBufferPointer) {
                var v: UInt64 = 0
                for byte in bytes.prefix(8) { v = v << 8 | UInt64(byte) }
                value = v
                count = UInt8(min(bytes.count, 8))
            }
        }

        /// One decoded KRPC message. Views into the datagram; valid only while it is.
        public struct Message {
            /// Query, response or error.
            public var kind: Kind
            /// The transaction id tying a response to its query.
            public var transactionID: TransactionID
            /// `a.info_hash` of a get_peers or announce_peer query.
            public var infoHash: ContentID?
            /// `r.samples` of a sample_infohashes response: concatenated 20-byte infohashes.
            public var samples: UnsafeRawBufferPointer?
            /// How many peers a get_peers response returned (`r.values`).
            public var valueCount: Int
            /// `a.port` of an announce_peer query.
            public var port: Int?
            /// `a.implied_port` of an announce_peer query.
            public var impliedPort: Bool
        }

        /// Whether a datagram can be KRPC at all: a bencoded dictionary of a plausible size.
        public static func recognize(_ datagram: UnsafeRawBufferPointer) -> Bool {
            datagram.count >= 12 && datagram.count <= maxMessageLength
                && datagram[0] == UInt8(ascii: "d") && datagram[datagram.count - 1] == UInt8(ascii: "e")
        }

        /// Decodes one datagram.
        /// - Throws: `WireError` when it is not a well-formed KRPC message.
        public static func decode(_ datagram: UnsafeRawBufferPointer) throws(WireError) -> Message {
            guard recognize(datagram) else { throw .malformed }
            var reader = ByteReader(datagram)
            let message = try Bencode.Dictionary(&reader, depth: maxDepth)
            guard reader.isEmpty else { throw .malformed }
            guard let y = message.string("y"), y.count == 1, let t = message.string("t"), t.count <= 64 else { throw .malformed }
            var result = Message(kind: .error, transactionID: TransactionID(t), infoHash: nil, samples: nil,
                                 valueCount: 0, port: nil, impliedPort: false)
            switch y[0] {
            case UInt8(ascii: "q"):
                guard let q = message.string("q"), let arguments = message.dictionary("a"),
                      let id = arguments.string("id"), id.count == 20 else { throw .malformed }
                let method = Method(q)
                result.kind = .query(method)
                if method == .getPeers || method == .announcePeer {
                    guard let hash = arguments.string("info_hash"), let infoHash = ContentID(kind: .btih, bytes: hash) else {
                        throw .malformed
                    }
                    result.infoHash = infoHash
                }
                if method == .announcePeer {
                    result.port = arguments.integer("port").flatMap { (0 ... 65_535).contains($0) ? Int($0) : nil }
                    result.impliedPort = (arguments.integer("implied_port") ?? 0) != 0
                }
            case UInt8(ascii: "r"):
                guard let body = message.dictionary("r"), let id = body.string("id"), id.count == 20 else { throw .malformed }
                result.kind = .response
                if let samples = body.string("samples"), samples.count % 20 == 0 {
                    result.samples = samples
                }
                body.list("values")?.forEach { _ in
                    result.valueCount += 1
                    return true
                }
            case UInt8(ascii: "e"):
                guard message.list("e") != nil else { throw .malformed }
                result.kind = .error
            default:
                throw .malformed
            }
            return result
        }
    }
}

@available(*, unavailable)
extension BitTorrent.DHT.Message: Sendable {}
