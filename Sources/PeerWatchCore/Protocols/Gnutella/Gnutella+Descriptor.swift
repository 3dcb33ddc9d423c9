extension Gnutella {
    /// Gnutella 0.6 descriptors: a 23-byte header (GUID, type, TTL, hops, payload length,
    /// little-endian) and a payload. Queries and query hits carry file URNs in their extension
    /// blocks, as HUGE text (`urn:sha1:...` separated by 0x1C) or GGEP `H` hashes.
    enum Descriptor {
        static let headerLength = 23
        /// Payloads beyond this are not real descriptors (servents drop them; 64 KiB is the
        /// usual cap).
        static let maxPayload = 64 * 1024
        /// Hits in one query hit: a result set names at most 255.
        static let maxHits = 255

        enum Kind: UInt8 {
            case ping = 0x00, pong = 0x01, bye = 0x02, routeTable = 0x30, vendor = 0x31, standardVendor = 0x32
            case push = 0x40, query = 0x80, queryHit = 0x81
        }

        /// The payload length a descriptor header declares, or `nil` before 23 bytes.
        static func payloadLength(_ header: UnsafeRawBufferPointer) -> Int? {
            let reader = ByteReader(header)
            guard let length = reader.peekLittleEndianInteger(as: UInt32.self, at: 19) else { return nil }
            return Int(length)
        }

        /// The framing of a descriptor stream.
        static func frame(_ bytes: UnsafeRawBufferPointer) -> MessageAssembler.Frame {
            guard let length = payloadLength(bytes) else { return .needMore }
            guard length <= maxPayload else { return .invalid(.lengthOutOfRange(declared: length, limit: maxPayload)) }
            return .message(length: headerLength + length, keep: headerLength + length)
        }

        /// Whether a datagram is exactly one descriptor of a known kind (Gnutella over UDP).
        static func isDatagram(_ payload: UnsafeRawBufferPointer) -> Bool {
            guard payload.count >= headerLength, let length = payloadLength(payload), length == payload.count - headerLength,
                  let type = ByteReader(payload).peekByte(at: 16), Kind(rawValue: type) != nil else { return false }
            return true
        }

        /// Reads one whole descriptor (header and payload) and reports the URNs of a query or a
        /// query hit.
        static func decode(_ descriptor: UnsafeRawBufferPointer, proto: P2PProtocol, client: String?, context: inout DecodeContext) {
            guard descriptor.count >= headerLength, let type = ByteReader(descriptor).peekByte(at: 16) else { return }
            let payload = UnsafeRawBufferPointer(rebasing: descriptor[headerLength...])
            switch Kind(rawValue: type) {
            case .query: query(payload, proto: proto, client: client, context: &context)
            case .queryHit: queryHit(payload, proto: proto, context: &context)
            default: break
            }
        }

        /// A query: minimum speed (2), the search text (NUL-terminated), then extensions.
        static func query(_ payload: UnsafeRawBufferPointer, proto: P2PProtocol, client: String?, context: inout DecodeContext) {
            var reader = ByteReader(payload)
            guard reader.skip(2) else { return }
            let rest = reader.remainingBytes
            let end = ByteSearch.firstIndex(of: 0, in: rest) ?? rest.count
            let text = UnsafeRawBufferPointer(rebasing: rest[0 ..< end])
            var ids = IDSet()
            // A URN query names the file in the search text or in the extensions.
            URN.scan(text) { ids.insert($0) }
            if end < rest.count { Extensions.read(UnsafeRawBufferPointer(rebasing: rest[(end + 1)...]), into: &ids) }
            guard !ids.isEmpty else { return }
            let name = text.isEmpty || text.first == UInt8(ascii: "\\") ? nil : String(wire: text)
            ids.forEach { id in
                context.observe(Observation(proto, .query, role: .seeking, contentID: id, context: Context(fileName: name, client: client)))
            }
            context.recognised(proto)
        }

        /// A query hit: hit count (1), port (2), IPv4 (4), speed (4), the hits (index (4), size
        /// (4), name (NUL-terminated), extensions (NUL-terminated)), then the trailer (vendor
        /// code, open and private data) and the servent GUID (16).
        static func queryHit(_ payload: UnsafeRawBufferPointer, proto: P2PProtocol, context: inout DecodeContext) {
            var reader = ByteReader(payload)
            guard let count = reader.readByte(), reader.skip(10) else { return }
            var hits = 0
            var reported = IDSet()
            // The trailer's vendor code follows the hits.
            var pending: [(IDSet, UnsafeRawBufferPointer, UInt64)] = []
            while hits < Int(count), hits < maxHits {
                guard reader.skip(4), let rawSize = reader.readLittleEndianInteger(as: UInt32.self) else { break }
                let rest = reader.remainingBytes
                guard let nameEnd = ByteSearch.firstIndex(of: 0, in: rest) else { break }
                let name = UnsafeRawBufferPointer(rebasing: rest[0 ..< nameEnd])
                _ = reader.skip(nameEnd + 1)
                var ids = IDSet()
                var size = UInt64(rawSize)
                let used = Extensions.read(reader.remainingBytes, into: &ids, untilNUL: true) { id, data in
                    // GGEP LF: the size of a file of 4 GiB or more.
                    if id == .largeFile, let large = Extensions.littleEndian(data) { size = large }
                }
                _ = reader.skip(used)
                hits += 1
                if !ids.isEmpty { pending.append((ids, name, size)) }
            }
            guard !pending.isEmpty else { return }
            let vendor = reader.peekBytes(count: 4).flatMap { code -> String? in
                code.allSatisfy { (0x20 ... 0x7E).contains($0) } ? String(wire: code) : nil
            }
            for (ids, name, size) in pending {
                let fileName = String(wire: name)
                ids.forEach { id in
                    guard reported.insert(id) else { return }
                    context.observe(Observation(proto, .queryHit, role: .offering, contentID: id,
                                                context: Context(fileName: fileName, fileSize: size, client: vendor)))
                }
            }
            context.recognised(proto)
        }
    }

    /// The identifiers of one message, each once, held inline for the usual few (a bitprint,
    /// an eD2k hash, an MD5 and a BitTorrent infohash per file).
    struct IDSet {
        private var first: (ContentID?, ContentID?, ContentID?, ContentID?, ContentID?, ContentID?) = (nil, nil, nil, nil, nil, nil)
        private var firstCount = 0
        private var more: [ContentID] = []
        /// Identifiers past this many are not kept (a hostile message listing thousands).
        static let limit = 64

        var isEmpty: Bool { firstCount == 0 }
        var count: Int { firstCount + more.count }

        /// Adds `id` unless it is there; returns whether it was added.
        @discardableResult
        mutating func insert(_ id: ContentID) -> Bool {
            var present = false
            forEach { if $0 == id { present = true } }
            guard !present, count < Self.limit else { return false }
            switch firstCount {
            case 0: first.0 = id
            case 1: first.1 = id
            case 2: first.2 = id
            case 3: first.3 = id
            case 4: first.4 = id
            case 5: first.5 = id
            default:
                more.append(id)
                return true
            }
            firstCount += 1
            return true
        }

        func forEach(_ body: (ContentID) -> Void) {
            for index in 0 ..< firstCount {
                let id: ContentID?
                switch index {
                case 0: id = first.0
                case 1: id = first.1
                case 2: id = first.2
                case 3: id = first.3
                case 4: id = first.4
                default: id = first.5
                }
                if let id { body(id) }
            }
            for id in more { body(id) }
        }
    }

    /// Gnutella extension blocks (HUGE, GGEP), shared by queries and query hits, over TCP and UDP.
    enum Extensions {
        /// The GGEP magic byte.
        static let ggepMagic: UInt8 = 0xC3
        /// The HUGE separator between extensions.
        static let separator: UInt8 = 0x1C
        /// GGEP extensions read per block.
        static let maxGGEPExtensions = 64

        /// GGEP extension ids this decoder reads.
        enum GGEPID {
            /// `H`: a binary hash (type 1 SHA-1, 2 bitprint, 3 MD5, 5 MD4/eD2k).
            case hash
            /// `LF`: a file size of 4 GiB or more.
            case largeFile
            case other
        }

        /// Reads extensions from the start of `bytes`, adding their identifiers to `ids`.
        /// - Parameters:
        ///   - untilNUL: a hit's extensions end at a NUL outside GGEP; a query's run to the end.
        ///   - ggep: gets each GGEP extension's id and (uncompressed, unencoded) data.
        /// - Returns: the bytes used, the terminating NUL included.
        @discardableResult
        static func read(_ bytes: UnsafeRawBufferPointer, into ids: inout IDSet, untilNUL: Bool = false,
                         ggep: (GGEPID, UnsafeRawBufferPointer) -> Void = { _, _ in }) -> Int {
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                if byte == 0 {
                    if untilNUL { return index + 1 }
                    index += 1
                    continue
                }
                if byte == separator {
                    index += 1
                    continue
                }
                if byte == ggepMagic {
                    let used = readGGEP(UnsafeRawBufferPointer(rebasing: bytes[(index + 1)...])) { id, data in
                        if id == .hash { hash(data, into: &ids) }
                        ggep(id, data)
                    }
                    // A block that does not parse is skipped to the next separator.
                    if let used {
                        index += 1 + used
                        continue
                    }
                }
                var end = index
                while end < bytes.count, bytes[end] != separator, bytes[end] != 0 { end += 1 }
                URN.scan(UnsafeRawBufferPointer(rebasing: bytes[index ..< end])) { ids.insert($0) }
                index = end
            }
            return index
        }

        /// Reads one GGEP block after its magic byte, handing over each extension as it is read;
        /// returns the bytes it took, or `nil` where it breaks the format.
        static func readGGEP(_ bytes: UnsafeRawBufferPointer, _ body: (GGEPID, UnsafeRawBufferPointer) -> Void) -> Int? {
            var reader = ByteReader(bytes)
            for _ in 0 ..< maxGGEPExtensions {
                guard let flags = reader.readByte() else { return nil }
                let idLength = Int(flags & 0x0F)
                guard idLength > 0, flags & 0x10 == 0, let id = reader.readBytes(count: idLength) else { return nil }
                var length = 0
                var lastByte = false
                for _ in 0 ..< 3 {
                    guard let byte = reader.readByte() else { return nil }
                    length = length << 6 | Int(byte & 0x3F)
                    if byte & 0x40 != 0 {
                        lastByte = true
                        break
                    }
                    guard byte & 0x80 != 0 else { return nil }
                }
                guard lastByte, reader.remaining >= length else { return nil }
                let start = reader.offset
                _ = reader.skip(length)
                // Compressed or COBS-encoded data is not read (the hashes are sent plain).
                if flags & 0x60 == 0 { body(ggepID(id), UnsafeRawBufferPointer(rebasing: bytes[start ..< start + length])) }
                if flags & 0x80 != 0 { return reader.offset }
            }
            return nil
        }

        private static func ggepID(_ id: UnsafeRawBufferPointer) -> GGEPID {
            if id.count == 1, id[0] == UInt8(ascii: "H") { return .hash }
            if id.count == 2, id[0] == UInt8(ascii: "L"), id[1] == UInt8(ascii: "F") { return .largeFile }
            return .other
        }

        /// A GGEP `H` payload: its type byte, then the digest(s).
        static func hash(_ data: UnsafeRawBufferPointer, into ids: inout IDSet) {
            var reader = ByteReader(data)
            guard let type = reader.readByte() else { return }
            switch type {
            case 1:
                if let bytes = reader.readBytes(count: 20), let id = ContentID(kind: .sha1, bytes: bytes) { ids.insert(id) }
            case 2:
                if let sha1 = reader.readBytes(count: 20), let id = ContentID(kind: .sha1, bytes: sha1) { ids.insert(id) }
                if let tiger = reader.readBytes(count: 24), let id = ContentID(kind: .tth, bytes: tiger) { ids.insert(id) }
            case 3:
                if let bytes = reader.readBytes(count: 16), let id = ContentID(kind: .md5, bytes: bytes) { ids.insert(id) }
            case 5:
                if let bytes = reader.readBytes(count: 16), let id = ContentID(kind: .ed2k, bytes: bytes) { ids.insert(id) }
            default:
                break
            }
        }

        /// A little-endian integer of 1 to 8 bytes (GGEP `LF`).
        static func littleEndian(_ data: UnsafeRawBufferPointer) -> UInt64? {
            guard (1 ... 8).contains(data.count) else { return nil }
            var value: UInt64 = 0
            for index in (0 ..< data.count).reversed() { value = value << 8 | UInt64(data[index]) }
            return value
        }
    }
}
