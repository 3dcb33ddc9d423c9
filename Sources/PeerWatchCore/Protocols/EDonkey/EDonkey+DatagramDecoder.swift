extension EDonkey {
    /// Kad (Kademlia as eMule and aMule speak it, version 2): `0xE4` and an opcode, or `0xE5`,
    /// an opcode and the zlib-packed rest. The 128-bit ids are sent as four little-endian
    /// 32-bit words; a source search or publish targets the file's eD2k hash.
    enum Kad {
        static let searchKeyRequest: UInt8 = 0x33, searchSourceRequest: UInt8 = 0x34, searchNotesRequest: UInt8 = 0x35
        static let searchResponse: UInt8 = 0x3B
        static let publishKeyRequest: UInt8 = 0x43, publishSourceRequest: UInt8 = 0x44, publishNotesRequest: UInt8 = 0x45
        /// Results or published entries read from one packet.
        static let maxEntries = 512

        /// Whether a plain Kad 2 packet's payload has the length its opcode calls for (random
        /// datagrams that happen to start with 0xE4 do not).
        static func isPlausible(_ opcode: UInt8, payload count: Int) -> Bool {
            switch opcode {
            case 0x01, 0x60: count == 0                                   // bootstrap request, ping
            case 0x09: count >= 21 && (count - 21) % 25 == 0              // bootstrap response: id, port, version, contacts
            case 0x11, 0x19, 0x22: count >= 20                            // hello request, response, ack
            case 0x21: count == 33                                        // request: type, target, receiver
            case 0x29: count >= 17 && (count - 17) % 25 == 0              // response: target, contacts
            case 0x33: count >= 18                                        // keyword search: target, start, terms
            case 0x34: count == 26                                        // source search: target, start, size
            case 0x35: count == 24                                        // notes search: target, size
            case 0x3B: count >= 34                                        // search results
            case 0x43: count >= 18                                        // publish keyword: target, count, entries
            case 0x44, 0x45: count >= 33                                  // publish source, notes: target, source, tags
            case 0x4B: count >= 17                                        // publish response
            case 0x61: count == 2                                         // pong: port
            default: false
            }
        }

        /// Opcodes a packed Kad packet may carry (its length is known only once inflated).
        static func isPackable(_ opcode: UInt8) -> Bool {
            switch opcode {
            case 0x09, 0x11, 0x19, 0x29, 0x3B, 0x43, 0x44, 0x45: true
            default: false
            }
        }

        /// A Kad id as the eD2k hash it names: each 32-bit word back to big-endian order.
        static func hash(_ wire: UnsafeRawBufferPointer?) -> ContentID? {
            guard let wire, wire.count == 16 else { return nil }
            var words: (UInt64, UInt64) = (0, 0)
            withUnsafeMutableBytes(of: &words) { raw in
                for index in 0 ..< 16 { raw[index] = wire[(index & ~3) + 3 - (index & 3)] }
            }
            return withUnsafeBytes(of: &words) { ContentID(kind: .ed2k, bytes: $0) }
        }

        static let sourceType: UInt8 = 0xFF, sourceIP: UInt8 = 0xFE

        /// Reads one Kad packet (opcode and payload).
        static func decode(opcode: UInt8, payload: UnsafeRawBufferPointer, context: inout DecodeContext) {
            var reader = ByteReader(payload)
            func observe(_ message: Message, _ role: Role, _ id: ContentID?, _ extra: Context = Context()) {
                guard let id else { return }
                context.observe(Observation(.kad, message, role: role, contentID: id, context: extra))
            }
            switch opcode {
            case searchSourceRequest:
                let target = hash(reader.readBytes(count: 16))
                guard reader.skip(2) else { return observe(.kadSearchSource, .seeking, target) }
                observe(.kadSearchSource, .seeking, target, Context(fileSize: reader.readLittleEndianInteger(as: UInt64.self)))
            case searchNotesRequest:
                let target = hash(reader.readBytes(count: 16))
                observe(.kadSearchNotes, .seeking, target, Context(fileSize: reader.readLittleEndianInteger(as: UInt64.self)))
            case searchResponse:
                // Sender id, target, count, then per result its id and tags: files (named, sized)
                // for a keyword search, or sources of the target file.
                guard reader.skip(16), let target = reader.readBytes(count: 16), let count = reader.readLittleEndianInteger(as: UInt16.self) else { return }
                var sources = false
                for _ in 0 ..< min(Int(count), maxEntries) {
                    guard let answer = reader.readBytes(count: 16), let tags = reader.readByte() else { break }
                    var name: String?, low: UInt64?, high: UInt64 = 0, source = false
                    guard Tags.read(&reader, count: Int(tags), { tag, value in
                        switch (tag, value) {
                        case (Tags.fileName, .string(let text)): name = String(wire: text)
                        case (Tags.fileSize, .integer(let size)): low = size
                        case (Tags.fileSizeHigh, .integer(let size)): high = size
                        case (sourceType, _), (sourceIP, _): source = true
                        default: break
                        }
                    }) else { break }
                    if name != nil {
                        observe(.kadSearchResult, .offering, hash(answer), Context(fileName: name, fileSize: low.map { high << 32 | $0 }))
                    } else if source {
                        sources = true
                    }
                }
                if sources { observe(.kadSearchResult, .offering, hash(target)) }
            case publishKeyRequest:
                guard reader.skip(16), let count = reader.readLittleEndianInteger(as: UInt16.self) else { return }
                for _ in 0 ..< min(Int(count), maxEntries) {
                    guard let file = reader.readBytes(count: 16), let tags = reader.readByte(), let (name, size) = Tags.file(&reader, count: Int(tags)) else { break }
                    observe(.kadPublishKey, .offering, hash(file), Context(fileName: name, fileSize: size))
                }
            case publishSourceRequest, publishNotesRequest:
                let target = hash(reader.readBytes(count: 16))
                var extra = Context()
                if reader.skip(16), let tags = reader.readByte(), let (name, size) = Tags.file(&reader, count: Int(tags)) {
                    extra = Context(fileName: name, fileSize: size)
                }
                observe(opcode == publishSourceRequest ? .kadPublishSource : .kadPublishNotes, .offering, target, extra)
            default:
                break
            }
        }
    }

    /// eDonkey over UDP, between clients (0xC5: reasks) and to servers (0xE3: global source
    /// and search requests): the protocol byte, the opcode, the payload (no length).
    enum UDP {
        static let reaskFilePing: UInt8 = 0x90
        static let globalGetSources2: UInt8 = 0x94, globalSearchResult: UInt8 = 0x99, globalGetSources: UInt8 = 0x9A, globalFoundSources: UInt8 = 0x9B

        /// Whether a datagram's payload has the length its opcode calls for.
        static func isPlausible(_ proto: UInt8, _ opcode: UInt8, payload count: Int) -> Bool {
            switch (proto, opcode) {
            case (emuleProtocol, reaskFilePing): count >= 16
            case (emuleProtocol, 0x91), (emuleProtocol, 0x92), (emuleProtocol, 0x93): count <= 64            // reask answers
            case (edonkeyProtocol, globalGetSources): count >= 16 && count % 16 == 0
            case (edonkeyProtocol, globalGetSources2): count >= 20 && count % 4 == 0
            case (edonkeyProtocol, globalFoundSources): count >= 17 && (count - 17) % 6 == 0
            case (edonkeyProtocol, globalSearchResult): count >= 26
            case (edonkeyProtocol, 0x96): count == 4                                                          // server status request
            default: false
            }
        }

        static func decode(proto: UInt8, opcode: UInt8, payload: UnsafeRawBufferPointer, context: inout DecodeContext) {
            var reader = ByteReader(payload)
            func observe(_ message: Message, _ role: Role, _ hash: UnsafeRawBufferPointer?, _ extra: Context = Context()) {
                guard let hash, let id = ContentID(kind: .ed2k, bytes: hash) else { return }
                context.observe(Observation(.edonkey, message, role: role, contentID: id, context: extra))
            }
            switch (proto, opcode) {
            case (emuleProtocol, reaskFilePing):
                observe(.reaskFile, .seeking, reader.readBytes(count: 16))
            case (edonkeyProtocol, globalGetSources):
                // A list of hashes.
                for _ in 0 ..< 64 {
                    guard let hash = reader.readBytes(count: 16) else { break }
                    observe(.getSources, .seeking, hash)
                }
            case (edonkeyProtocol, globalGetSources2):
                // Hash and size pairs (a size of 0 is followed by the 64-bit size).
                for _ in 0 ..< 64 {
                    guard let hash = reader.readBytes(count: 16), let size = reader.readLittleEndianInteger(as: UInt32.self) else { break }
                    let full = size == 0 ? reader.readLittleEndianInteger(as: UInt64.self) : UInt64(size)
                    observe(.getSources, .seeking, hash, Context(fileSize: full))
                }
            case (edonkeyProtocol, globalFoundSources):
                observe(.foundSources, .offering, reader.readBytes(count: 16))
            case (edonkeyProtocol, globalSearchResult):
                guard let hash = reader.readBytes(count: 16), reader.skip(6), let tags = reader.readLittleEndianInteger(as: UInt32.self) else { return }
                let (name, size) = Tags.file(&reader, count: Int(tags)) ?? (nil, nil)
                observe(.searchResult, .offering, hash, Context(fileName: name, fileSize: size))
            default:
                break
            }
        }
    }

    /// The eDonkey state of a UDP flow: one client socket carries Kad and eDonkey UDP alike.
    struct DatagramState {
        /// Whether a datagram is plausibly the family's.
        static func recognise(_ payload: UnsafeRawBufferPointer) -> Recognition {
            guard payload.count >= 2 else { return .no }
            let proto = payload[0], opcode = payload[1]
            switch proto {
            case kadProtocol: return Kad.isPlausible(opcode, payload: payload.count - 2) ? .yes : .no
            case kadPackedProtocol: return Kad.isPackable(opcode) && payload.count >= 4 && payload[2] == 0x78 ? .yes : .no   // a zlib header
            case emuleProtocol, edonkeyProtocol: return UDP.isPlausible(proto, opcode, payload: payload.count - 2) ? .yes : .no
            default: return .no
            }
        }

        mutating func decode(_ payload: UnsafeRawBufferPointer, context: inout DecodeContext) -> Bool {
            guard Self.recognise(payload) == .yes else { return false }
            let proto = payload[0], opcode = payload[1]
            let rest = UnsafeRawBufferPointer(rebasing: payload[2...])
            switch proto {
            case kadProtocol:
                context.recognised(.kad)
                Kad.decode(opcode: opcode, payload: rest, context: &context)
            case kadPackedProtocol:
                context.recognised(.kad)
                context.inflateMessage(rest) { plain, context in Kad.decode(opcode: opcode, payload: plain, context: &context) }
            default:
                context.recognised(.edonkey)
                UDP.decode(proto: proto, opcode: opcode, payload: rest, context: &context)
            }
            return true
        }
    }
}
