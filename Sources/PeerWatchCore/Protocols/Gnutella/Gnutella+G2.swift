extension Gnutella {
    /// Gnutella2 packets: a control byte (length-of-length, name length, compound and
    /// big-endian flags), the length, a name of 1 to 8 bytes, and a payload that in a compound
    /// packet begins with child packets (ended by a NUL before the packet's own payload). Q2
    /// queries and QH2 hits name files by `URN` children: a prefix (`sha1`, `ttr`, `bp`, `ed2k`,
    /// `md5`, `btih`), a NUL, then the raw digest.
    enum G2 {
        /// Packets beyond this are not real (Shareaza and gtk-gnutella cap a packet far below).
        static let maxPacket = 256 * 1024
        /// Nesting read below a top-level packet (a QH2's H's URN is two down).
        static let maxDepth = 8
        /// Children read per packet.
        static let maxChildren = 512

        /// One packet's header, parsed in place.
        struct Header {
            /// The name, its bytes packed big-endian into a word (`Q2` is 0x5132).
            var name: UInt64
            var isCompound: Bool
            var isBigEndian: Bool
            var headerLength: Int
            var payloadLength: Int
            var totalLength: Int { headerLength + payloadLength }
        }

        /// A name packed as `Header.name` is.
        static func name(_ text: StaticString) -> UInt64 {
            text.withUTF8Buffer { $0.reduce(0) { $0 << 8 | UInt64($1) } }
        }

        static let q2Name = name("Q2"), qh2Name = name("QH2"), hitName = name("H"), urnName = name("URN"), dnName = name("DN"), sizeName = name("SZ"),
                   vendorName = name("V")

        enum Parsed {
            case header(Header)
            case needMore
            case invalid
        }

        /// Parses the header at the start of `bytes`.
        static func header(_ bytes: UnsafeRawBufferPointer) -> Parsed {
            guard let control = bytes.first else { return .needMore }
            guard control != 0 else { return .invalid }
            let lengthBytes = Int(control >> 6), nameLength = Int((control >> 3) & 7) + 1
            let headerLength = 1 + lengthBytes + nameLength
            guard bytes.count >= headerLength else { return .needMore }
            let bigEndian = control & 0x02 != 0
            var length = 0
            for index in 0 ..< lengthBytes {
                let byte = Int(bytes[1 + (bigEndian ? index : lengthBytes - 1 - index)])
                length = length << 8 | byte
            }
            var name: UInt64 = 0
            for index in 0 ..< nameLength { name = name << 8 | UInt64(bytes[1 + lengthBytes + index]) }
            return .header(Header(name: name, isCompound: control & 0x04 != 0, isBigEndian: bigEndian, headerLength: headerLength, payloadLength: length))
        }

        /// The framing of a G2 stream.
        static func frame(_ bytes: UnsafeRawBufferPointer) -> MessageAssembler.Frame {
            switch header(bytes) {
            case .needMore: return .needMore
            case .invalid: return .invalid(.malformed)
            case .header(let header):
                guard header.totalLength <= maxPacket else { return .invalid(.lengthOutOfRange(declared: header.totalLength, limit: maxPacket)) }
                return .message(length: header.totalLength, keep: header.totalLength)
            }
        }

        /// Calls `body` with each child of a compound packet's payload; returns the packet's own
        /// payload (after the children), or `nil` if a child breaks the format.
        @discardableResult
        static func children(_ payload: UnsafeRawBufferPointer, _ body: (Header, UnsafeRawBufferPointer) -> Void) -> UnsafeRawBufferPointer? {
            var offset = 0
            var count = 0
            while offset < payload.count, count < maxChildren {
                if payload[offset] == 0 { return UnsafeRawBufferPointer(rebasing: payload[(offset + 1)...]) }
                let rest = UnsafeRawBufferPointer(rebasing: payload[offset...])
                guard case .header(let header) = self.header(rest), header.totalLength <= rest.count else { return nil }
                body(header, UnsafeRawBufferPointer(rebasing: rest[header.headerLength ..< header.totalLength]))
                offset += header.totalLength
                count += 1
            }
            return UnsafeRawBufferPointer(rebasing: payload[payload.count...])
        }

        /// A URN child's identifiers.
        static func urn(_ payload: UnsafeRawBufferPointer, into ids: inout IDSet) {
            guard let nul = ByteSearch.firstIndex(of: 0, in: payload) else { return }
            let prefix = UnsafeRawBufferPointer(rebasing: payload[0 ..< nul])
            var reader = ByteReader(UnsafeRawBufferPointer(rebasing: payload[(nul + 1)...]))
            func take(_ kind: ContentID.Kind) {
                if let bytes = reader.readBytes(count: kind.digestLength), let id = ContentID(kind: kind, bytes: bytes) { ids.insert(id) }
            }
            switch prefixName(prefix) {
            case name("sha1"): take(.sha1)
            case name("ttr"): take(.tth)
            case name("bp"):
                take(.sha1)
                take(.tth)
            case name("ed2k"): take(.ed2k)
            case name("md5"): take(.md5)
            case name("btih"): take(.btih)
            default:
                // The long forms: "tree:tiger/", "bitprint", "ed2khash".
                if equals(prefix, "tree:tiger/") || equals(prefix, "tree:tiger") { take(.tth) }
                else if equals(prefix, "bitprint") {
                    take(.sha1)
                    take(.tth)
                } else if equals(prefix, "ed2khash") { take(.ed2k) }
            }
        }

        private static func prefixName(_ prefix: UnsafeRawBufferPointer) -> UInt64 {
            guard prefix.count <= 8 else { return 0 }
            return prefix.reduce(0) { $0 << 8 | UInt64(HTTPText.lowercased($1)) }
        }

        private static func equals(_ bytes: UnsafeRawBufferPointer, _ text: StaticString) -> Bool {
            text.withUTF8Buffer { wanted in
                wanted.count == bytes.count && (0 ..< wanted.count).allSatisfy { HTTPText.lowercased(bytes[$0]) == wanted[$0] }
            }
        }

        /// Reads one whole top-level packet and reports the URNs of a Q2 or a QH2's hits.
        static func decode(_ packet: UnsafeRawBufferPointer, client: String?, context: inout DecodeContext) {
            guard case .header(let header) = self.header(packet), header.totalLength <= packet.count, header.isCompound else { return }
            let payload = UnsafeRawBufferPointer(rebasing: packet[header.headerLength ..< header.totalLength])
            switch header.name {
            case q2Name:
                var ids = IDSet()
                var text: String?
                children(payload) { child, body in
                    if child.name == urnName { urnChild(child, body, into: &ids) }
                    if child.name == dnName, !child.isCompound { text = String(wire: body) }
                }
                ids.forEach { id in
                    context.observe(Observation(.gnutella2, .g2Query, role: .seeking, contentID: id, context: Context(fileName: text, client: client)))
                }
                if !ids.isEmpty { context.recognised(.gnutella2) }
            case qh2Name:
                var reported = IDSet()
                var vendor: String?
                children(payload) { child, body in
                    if child.name == vendorName, !child.isCompound, body.count == 4 { vendor = String(wire: body) }
                }
                children(payload) { child, body in
                    guard child.name == hitName, child.isCompound else { return }
                    var ids = IDSet()
                    var fileName: String?
                    var fileSize: UInt64?
                    children(body) { grandchild, value in
                        switch grandchild.name {
                        case urnName: urnChild(grandchild, value, into: &ids)
                        case dnName where !grandchild.isCompound: fileName = String(wire: value)
                        case sizeName where !grandchild.isCompound: fileSize = integer(value, bigEndian: grandchild.isBigEndian)
                        default: break
                        }
                    }
                    ids.forEach { id in
                        guard reported.insert(id) else { return }
                        context.observe(Observation(.gnutella2, .g2Hit, role: .offering, contentID: id,
                                                    context: Context(fileName: fileName, fileSize: fileSize, client: vendor ?? client)))
                    }
                }
                if !reported.isEmpty { context.recognised(.gnutella2) }
            default:
                break
            }
        }

        private static func urnChild(_ header: Header, _ body: UnsafeRawBufferPointer, into ids: inout IDSet) {
            if header.isCompound {
                // Children first, then the own payload.
                if let own = children(body, { _, _ in }) { urn(own, into: &ids) }
            } else {
                urn(body, into: &ids)
            }
        }

        /// An unsigned integer of 1 to 8 bytes in the packet's byte order.
        static func integer(_ bytes: UnsafeRawBufferPointer, bigEndian: Bool) -> UInt64? {
            guard (1 ... 8).contains(bytes.count) else { return nil }
            var value: UInt64 = 0
            for index in 0 ..< bytes.count { value = value << 8 | UInt64(bytes[bigEndian ? index : bytes.count - 1 - index]) }
            return value
        }
    }
}
