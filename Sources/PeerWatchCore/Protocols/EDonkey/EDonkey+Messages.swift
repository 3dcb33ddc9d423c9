extension EDonkey {
    /// eDonkey and eMule TCP frames: protocol byte (0xE3 eDonkey, 0xC5 eMule extended, 0xD4
    /// zlib-packed), a little-endian length (opcode and payload), the opcode, the payload.
    enum Frames {
        static let headerLength = 5
        /// Frames beyond this are not real (eMule's largest, a packed file list, is far below).
        static let maxFrame = 4 * 1024 * 1024
        /// Bytes of one frame held to be read: lists of files and search results; past it a
        /// list is read as far as it goes.
        static let maxKept = 1024 * 1024
        /// What is read of a frame that carries file data: the hash and the range.
        static let partHead = 1 + 16 + 8 + 8

        /// Whether a byte is a TCP frame's protocol byte.
        static func isProtocol(_ byte: UInt8) -> Bool {
            byte == edonkeyProtocol || byte == emuleProtocol || byte == packedProtocol
        }

        /// Whether an opcode's payload is file data (read by its head only).
        static func carriesData(_ proto: UInt8, _ opcode: UInt8) -> Bool {
            switch (proto, opcode) {
            case (edonkeyProtocol, 0x46), (emuleProtocol, 0x40), (emuleProtocol, 0xA1), (emuleProtocol, 0xA2): true
            default: false
            }
        }

        /// The framing of an eDonkey stream.
        static func frame(_ bytes: UnsafeRawBufferPointer) -> MessageAssembler.Frame {
            let reader = ByteReader(bytes)
            guard let proto = reader.peekByte(at: 0) else { return .needMore }
            guard isProtocol(proto) else { return .invalid(.malformed) }
            guard let raw = reader.peekLittleEndianInteger(as: UInt32.self, at: 1), let opcode = reader.peekByte(at: 5) else { return .needMore }
            let length = Int(raw)
            guard length >= 1, length <= maxFrame else { return .invalid(.lengthOutOfRange(declared: length, limit: maxFrame)) }
            let total = headerLength + length
            let keep = carriesData(proto, opcode) ? min(total, headerLength + partHead) : min(total, headerLength + maxKept)
            return .message(length: total, keep: keep)
        }

        /// Whether a direction's first bytes open an eDonkey frame with a plausible length and an
        /// opcode a stream starts with (a hello, a hello answer, a login, eMule info), or any
        /// known opcode for a flow picked up later.
        static func recognise(_ first: UnsafeRawBufferPointer) -> Recognition {
            let reader = ByteReader(first)
            guard let proto = reader.peekByte(at: 0) else { return .needMore }
            guard isProtocol(proto) else { return .no }
            guard let raw = reader.peekLittleEndianInteger(as: UInt32.self, at: 1), let opcode = reader.peekByte(at: 5) else { return .needMore }
            let length = Int(raw)
            guard length >= 1, length <= maxFrame else { return .no }
            switch (proto, opcode) {
            case (edonkeyProtocol, 0x01):
                // A hello (hash length 16 first) or a server login; both far below 64 KiB.
                guard length < 64 * 1024 else { return .no }
                return .yes
            case (edonkeyProtocol, 0x4C), (emuleProtocol, 0x01), (emuleProtocol, 0x02):
                return length < 64 * 1024 ? .yes : .no
            case (packedProtocol, _):
                return length < maxKept ? .yes : .no
            default:
                return Messages.isKnown(proto, opcode) && length < maxKept ? .yes : .no
            }
        }
    }

    /// What a flow's eDonkey messages tell beyond identifiers.
    struct Peers {
        /// Each side's client, from its hello or login.
        var initiatorClient: String?
        var responderClient: String?
        /// Whether the initiator logged in to a server (the flow is a server link).
        var isServerLink = false
    }

    /// The decoding of one eDonkey message.
    enum Messages {
        /// Opcodes this decoder reads (or knows as a stream's start).
        static func isKnown(_ proto: UInt8, _ opcode: UInt8) -> Bool {
            switch (proto, opcode) {
            case (edonkeyProtocol, 0x01), (edonkeyProtocol, 0x15), (edonkeyProtocol, 0x16), (edonkeyProtocol, 0x19), (edonkeyProtocol, 0x23),
                 (edonkeyProtocol, 0x32), (edonkeyProtocol, 0x34), (edonkeyProtocol, 0x38), (edonkeyProtocol, 0x40 ... 0x42),
                 (edonkeyProtocol, 0x44), (edonkeyProtocol, 0x46 ... 0x59), (edonkeyProtocol, 0x5C):
                true
            case (emuleProtocol, 0x01), (emuleProtocol, 0x02), (emuleProtocol, 0x40), (emuleProtocol, 0x60), (emuleProtocol, 0x81 ... 0x87),
                 (emuleProtocol, 0x90), (emuleProtocol, 0x92), (emuleProtocol, 0x93), (emuleProtocol, 0x9B ... 0x9E), (emuleProtocol, 0xA1 ... 0xA4),
                 (emuleProtocol, 0xA9), (emuleProtocol, 0xB0):
                true
            default:
                false
            }
        }

        /// Reads one message (the opcode and what was kept of the payload).
        /// - Parameters:
        ///   - fullLength: the payload's full length (a data frame's payload is not all kept).
        ///   - partBytes: bytes of file data this message moved are added here.
        static func decode(proto: UInt8, opcode: UInt8, payload: UnsafeRawBufferPointer, fullLength: Int, direction: FlowDirection,
                           peers: inout Peers, partBytes: inout Int64, context: inout DecodeContext) {
            var reader = ByteReader(payload)
            let sender = direction == .toServer ? peers.initiatorClient : peers.responderClient
            func observe(_ message: Message, _ role: Role, _ hash: UnsafeRawBufferPointer?, _ extra: Context = Context()) {
                guard let hash, let id = ContentID(kind: .ed2k, bytes: hash) else { return }
                var extra = extra
                if extra.client == nil { extra.client = sender }
                context.observe(Observation(.edonkey, message, role: role, contentID: id, context: extra))
            }
            context.recognised(.edonkey)
            switch (proto, opcode) {
            case (edonkeyProtocol, 0x01), (edonkeyProtocol, 0x4C):
                // Hello (hash length, user hash) or login (user hash), hello answer (user hash):
                // then client id, port, tags. The user hash names a client, not a file.
                var isHello = opcode == 0x4C
                if opcode == 0x01 {
                    if reader.peekByte() == 16, payload.count >= 17 {
                        _ = reader.skip(1)
                        isHello = true
                    } else {
                        peers.isServerLink = direction == .toServer
                    }
                }
                guard let userHash = reader.readBytes(count: 16), reader.skip(4), let port = reader.readLittleEndianInteger(as: UInt16.self),
                      let count = reader.readLittleEndianInteger(as: UInt32.self) else { return }
                // A client's user hash, kept by where it listens, only to read obfuscated streams to it.
                if isHello, let ends = context.endpoints, let hash = ContentID(kind: .ed2k, bytes: userHash) {
                    let sender = direction == .toServer ? ends.initiator : ends.responder
                    context.edonkeyUserHashes.note(hash, for: Endpoint(address: sender.address, port: port))
                }
                var name: String?, version: UInt64?
                _ = Tags.read(&reader, count: Int(count)) { tag, value in
                    switch (tag, value) {
                    case (Tags.clientName, .string(let text)): name = String(wire: text, limit: 64)
                    case (Tags.clientVersion, .integer(let number)): version = number
                    case (Tags.emuleVersion, .integer(let number)): version = version ?? number
                    default: break
                    }
                }
                guard let name else { return }
                let client = version.map { "\(name) (\($0))" } ?? name
                if direction == .toServer { peers.initiatorClient = client } else { peers.responderClient = client }
            case (edonkeyProtocol, 0x58), (edonkeyProtocol, 0x4F), (edonkeyProtocol, 0x51), (emuleProtocol, 0x81), (emuleProtocol, 0x92),
                 (emuleProtocol, 0x9E):
                observe(.fileRequest, .seeking, reader.readBytes(count: 16))
            case (emuleProtocol, 0x83):
                // Source exchange v2: version, options, then the hash.
                guard reader.skip(3) else { return }
                observe(.fileRequest, .seeking, reader.readBytes(count: 16))
            case (emuleProtocol, 0xA4):
                let hash = reader.readBytes(count: 16)
                observe(.fileRequest, .seeking, hash, Context(fileSize: reader.readLittleEndianInteger(as: UInt64.self)))
            case (emuleProtocol, 0xA9), (emuleProtocol, 0xB0):
                // A file identifier: options, then the MD4 hash if bit 0 says so, the size if bit 1.
                guard let options = reader.readByte(), options & 0x01 != 0 else { return }
                let hash = reader.readBytes(count: 16)
                let size = options & 0x02 != 0 ? reader.readLittleEndianInteger(as: UInt64.self) : nil
                observe(opcode == 0xA9 ? .fileRequest : .fileAnswer, opcode == 0xA9 ? .seeking : .offering, hash, Context(fileSize: size))
            case (edonkeyProtocol, 0x59):
                let hash = reader.readBytes(count: 16)
                let name = reader.readLittleEndianInteger(as: UInt16.self).flatMap { reader.readBytes(count: Int($0)) }.map { String(wire: $0) }
                observe(.fileAnswer, .offering, hash, Context(fileName: name))
            case (edonkeyProtocol, 0x50), (edonkeyProtocol, 0x52), (emuleProtocol, 0x82), (emuleProtocol, 0x93):
                observe(.fileAnswer, .offering, reader.readBytes(count: 16))
            case (emuleProtocol, 0x84):
                guard reader.skip(1) else { return }
                observe(.fileAnswer, .offering, reader.readBytes(count: 16))
            case (edonkeyProtocol, 0x54):
                observe(.uploadRequest, .seeking, reader.readBytes(count: 16))
            case (edonkeyProtocol, 0x47), (emuleProtocol, 0xA3):
                let hash = reader.readBytes(count: 16)
                let wide = opcode == 0xA3
                func offset() -> UInt64? { wide ? reader.readLittleEndianInteger(as: UInt64.self) : reader.readLittleEndianInteger(as: UInt32.self).map(UInt64.init) }
                let start = offset(), _ = offset(), _ = offset(), end1 = offset(), end2 = offset(), end3 = offset()
                let end = [end3, end2, end1].compactMap { $0 }.first { $0 > 0 }
                observe(.requestParts, .seeking, hash, Context(rangeStart: start, rangeEnd: end))
            case (edonkeyProtocol, 0x46), (emuleProtocol, 0x40), (emuleProtocol, 0xA1), (emuleProtocol, 0xA2):
                let hash = reader.readBytes(count: 16)
                let wideStart = opcode == 0xA1 || opcode == 0xA2
                let start = wideStart ? reader.readLittleEndianInteger(as: UInt64.self) : reader.readLittleEndianInteger(as: UInt32.self).map(UInt64.init)
                var end: UInt64?
                switch opcode {
                case 0x46: end = reader.readLittleEndianInteger(as: UInt32.self).map(UInt64.init)
                case 0xA2: end = reader.readLittleEndianInteger(as: UInt64.self)
                default: end = nil   // a compressed part gives its packed size, not its end
                }
                let head = 1 + 16 + (wideStart ? 8 : 4) + 4 + (opcode == 0xA2 ? 4 : 0)
                partBytes &+= Int64(max(0, fullLength - head))
                observe(.sendingPart, .transferring, hash, Context(rangeStart: start, rangeEnd: end))
            case (edonkeyProtocol, 0x19), (edonkeyProtocol, 0x23):
                let hash = reader.readBytes(count: 16)
                observe(.getSources, .seeking, hash, Context(fileSize: reader.readLittleEndianInteger(as: UInt32.self).map(UInt64.init)))
            case (edonkeyProtocol, 0x42), (edonkeyProtocol, 0x44):
                observe(.foundSources, .offering, reader.readBytes(count: 16))
            case (edonkeyProtocol, 0x15), (edonkeyProtocol, 0x4B):
                fileList(&reader, message: opcode == 0x15 ? .offerFiles : .sharedFiles, sender: sender, context: &context)
            case (edonkeyProtocol, 0x16) where direction == .toClient || !peers.isServerLink:
                // From the server: search results (from the client it is the search itself).
                fileList(&reader, message: .searchResult, sender: nil, context: &context)
            default:
                break
            }
        }

        /// Files listed with their tags (offers, shared files, search results): count, then per
        /// file its hash, client id, port, tag count and tags.
        static func fileList(_ reader: inout ByteReader, message: Message, sender: String?, context: inout DecodeContext) {
            guard let count = reader.readLittleEndianInteger(as: UInt32.self) else { return }
            for _ in 0 ..< min(Int(count), 4_096) {
                guard let hash = reader.readBytes(count: 16), reader.skip(6), let tags = reader.readLittleEndianInteger(as: UInt32.self),
                      let (name, size) = Tags.file(&reader, count: Int(tags)), let id = ContentID(kind: .ed2k, bytes: hash) else { return }
                context.observe(Observation(.edonkey, message, role: .offering, contentID: id, context: Context(fileName: name, fileSize: size, client: sender)))
            }
        }
    }
}
