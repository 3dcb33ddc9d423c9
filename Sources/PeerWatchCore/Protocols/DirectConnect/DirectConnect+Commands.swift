extension DirectConnect {
    /// Reads commands of either dialect: their identifiers, and how many raw file bytes follow
    /// (after `$ADCSND` / `SND`).
    enum Commands {
        /// What a command said of the bytes after it.
        enum After: Equatable {
            case commands
            /// This many bytes of file data follow.
            case data(Int)
            /// Compressed file data of unknown length follows: nothing more can be framed.
            case unframed
        }

        /// Reads one NMDC command (without its `|`).
        static func nmdc(_ command: UnsafeRawBufferPointer, transport: TransportProtocol, context: inout DecodeContext) -> After {
            if openingMatch(command, "$Search ") == .yes {
                guard let id = tthAfter(command, "TTH:") else { return .commands }
                context.observe(Observation(.search, role: .seeking, contentID: id, context: Context(dialect: .nmdc)))
                context.recognised(.directConnect)
            } else if openingMatch(command, "$SR ") == .yes {
                // "$SR nick path\u{5}size slots/total\u{5}TTH:... (hub:port)"
                guard let id = tthAfter(command, "TTH:") else { return .commands }
                var name: String?, size: UInt64?
                if let firstFive = ByteSearch.firstIndex(of: 0x05, in: command),
                   let space = ByteSearch.firstIndex(of: 0x20, in: command, from: 4), space < firstFive {
                    name = String(wire: UnsafeRawBufferPointer(rebasing: command[(space + 1) ..< firstFive]))
                    let rest = UnsafeRawBufferPointer(rebasing: command[(firstFive + 1)...])
                    let end = ByteSearch.firstIndex(of: 0x20, in: rest) ?? rest.count
                    size = decimal(UnsafeRawBufferPointer(rebasing: rest[0 ..< end]))
                }
                context.observe(Observation(.searchResult, role: .offering, contentID: id, context: Context(dialect: .nmdc, fileName: name, fileSize: size)))
                context.recognised(.directConnect)
            } else if openingMatch(command, "$ADCGET ") == .yes || openingMatch(command, "$ADCSND ") == .yes {
                let isSend = command[4] == UInt8(ascii: "S")
                return transfer(UnsafeRawBufferPointer(rebasing: command[8...]), isSend: isSend, dialect: .nmdc, context: &context)
            } else if openingMatch(command, "$Lock ") == .yes || openingMatch(command, "$MyNick ") == .yes || openingMatch(command, "$Supports ") == .yes {
                context.recognised(.directConnect)
            }
            return .commands
        }

        /// Reads one ADC command (without its line feed).
        static func adc(_ command: UnsafeRawBufferPointer, context: inout DecodeContext) -> After {
            guard command.count >= 4 else { return .commands }
            let name = UnsafeRawBufferPointer(rebasing: command[1 ..< 4])
            func named(_ text: StaticString) -> Bool { openingMatch(name, text) == .yes }
            if named("SUP") || named("INF") {
                context.recognised(.directConnect)
            } else if named("SCH") {
                var id: ContentID?
                fields(command, separator: 0x20) { field in
                    if id == nil, field.count == 41, field[0] == UInt8(ascii: "T"), field[1] == UInt8(ascii: "R") {
                        id = tth(UnsafeRawBufferPointer(rebasing: field[2...]))
                    }
                }
                guard let id else { return .commands }
                context.observe(Observation(.search, role: .seeking, contentID: id, context: Context(dialect: .adc)))
                context.recognised(.directConnect)
            } else if named("RES") {
                var id: ContentID?, fileName: String?, size: UInt64?
                fields(command, separator: 0x20) { field in
                    guard field.count > 2 else { return }
                    let value = UnsafeRawBufferPointer(rebasing: field[2...])
                    switch (field[0], field[1]) {
                    case (UInt8(ascii: "T"), UInt8(ascii: "R")) where field.count == 41: id = tth(value)
                    case (UInt8(ascii: "F"), UInt8(ascii: "N")): fileName = unescaped(value)
                    case (UInt8(ascii: "S"), UInt8(ascii: "I")): size = decimal(value)
                    default: break
                    }
                }
                guard let id else { return .commands }
                context.observe(Observation(.searchResult, role: .offering, contentID: id, context: Context(dialect: .adc, fileName: fileName, fileSize: size)))
                context.recognised(.directConnect)
            } else if named("GET") || named("SND"), command.count > 5 {
                return transfer(UnsafeRawBufferPointer(rebasing: command[5...]), isSend: named("SND"), dialect: .adc, context: &context)
            }
            return .commands
        }

        /// `type identifier start bytes [ZL1]`: a file by `TTH/...`, and for a send the bytes that follow.
        private static func transfer(_ arguments: UnsafeRawBufferPointer, isSend: Bool, dialect: Dialect, context: inout DecodeContext) -> After {
            var index = 0
            var id: ContentID?, start: UInt64?, bytes: Int64?, compressed = false
            fields(arguments, separator: 0x20) { field in
                switch index {
                case 1: if openingMatch(field, "TTH/") == .yes { id = tth(UnsafeRawBufferPointer(rebasing: field[4...])) }
                case 2: start = decimal(field)
                case 3: bytes = field.count == 2 && field[0] == UInt8(ascii: "-") && field[1] == UInt8(ascii: "1") ? -1 : decimal(field).map { Int64(clamping: $0) }
                default: if openingMatch(field, "ZL1") == .yes { compressed = true }
                }
                index += 1
            }
            context.recognised(.directConnect)
            if let id {
                let size = bytes.flatMap { $0 >= 0 ? UInt64($0) : nil }
                context.observe(Observation(isSend ? .send : .get, role: isSend ? .transferring : .seeking, contentID: id,
                                            context: Context(dialect: dialect, fileSize: size, rangeStart: start)))
            }
            guard isSend else { return .commands }
            if compressed { return .unframed }
            return .data(Int(clamping: max(0, bytes ?? 0)))
        }

        /// The TTH after `marker` in `text`.
        private static func tthAfter(_ text: UnsafeRawBufferPointer, _ marker: StaticString) -> ContentID? {
            let length = marker.utf8CodeUnitCount
            guard text.count >= length + 39 else { return nil }
            for start in 0 ... (text.count - length - 39) where openingMatch(UnsafeRawBufferPointer(rebasing: text[start...]), marker) == .yes {
                return tth(UnsafeRawBufferPointer(rebasing: text[(start + length)...]))
            }
            return nil
        }

        /// ADC parameter text with its escapes (`\s`, `\n`, `\\`) undone.
        static func unescaped(_ value: UnsafeRawBufferPointer) -> String {
            var bytes = [UInt8]()
            bytes.reserveCapacity(min(value.count, 512))
            var index = 0
            while index < value.count, bytes.count < 512 {
                var byte = value[index]
                if byte == UInt8(ascii: "\\"), index + 1 < value.count {
                    index += 1
                    switch value[index] {
                    case UInt8(ascii: "s"): byte = 0x20
                    case UInt8(ascii: "n"): byte = 0x0A
                    default: byte = value[index]
                    }
                }
                bytes.append(byte)
                index += 1
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// Splits one direction of a stream into commands at a separator, skipping the file bytes a
    /// command announces. Only a command split across chunks is copied.
    struct CommandFramer {
        static let maxCommand = 64 * 1024
        private var held: [UInt8] = []
        private var skipping = 0
        private(set) var dataBytes: Int64 = 0
        private(set) var isDone = false

        /// Takes the next bytes; `body` reads each command and says what follows it.
        mutating func feed(_ bytes: UnsafeRawBufferPointer, separator: UInt8, _ body: (UnsafeRawBufferPointer) -> Commands.After) {
            var input = bytes
            while !input.isEmpty, !isDone {
                if skipping > 0 {
                    let skipped = min(skipping, input.count)
                    skipping -= skipped
                    dataBytes &+= Int64(skipped)
                    input = UnsafeRawBufferPointer(rebasing: input[skipped...])
                    continue
                }
                guard let end = ByteSearch.firstIndex(of: separator, in: input) else {
                    guard held.count + input.count <= Self.maxCommand else {
                        held = []
                        isDone = true
                        return
                    }
                    held.append(contentsOf: input)
                    return
                }
                let after: Commands.After
                if held.isEmpty {
                    after = body(UnsafeRawBufferPointer(rebasing: input[0 ..< end]))
                } else {
                    guard held.count + end <= Self.maxCommand else {
                        held = []
                        isDone = true
                        return
                    }
                    held.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[0 ..< end]))
                    after = held.withUnsafeBytes { body($0) }
                    held.removeAll(keepingCapacity: true)
                }
                input = UnsafeRawBufferPointer(rebasing: input[(end + 1)...])
                switch after {
                case .commands: break
                case .data(let count): skipping = count
                case .unframed: isDone = true
                }
            }
        }

        mutating func finish() {
            held = []
            isDone = true
        }
    }

    /// The Direct Connect state of a TCP flow.
    struct StreamState {
        var toServer = CommandFramer()
        var toClient = CommandFramer()
        var dialect: Dialect?

        var isDone: Bool { toServer.isDone && toClient.isDone }

        mutating func decode(_ chunk: StreamChunk, direction: FlowDirection, context: inout DecodeContext) -> DecodeStatus {
            guard case .data(let bytes) = chunk else {
                if direction == .toServer { toServer.finish() } else { toClient.finish() }
                return isDone ? .done : .more
            }
            if dialect == nil, let first = bytes.first { dialect = first == UInt8(ascii: "$") ? .nmdc : .adc }
            let dialect = self.dialect ?? .nmdc
            let separator: UInt8 = dialect == .nmdc ? UInt8(ascii: "|") : 0x0A
            switch direction {
            case .toServer: toServer.feed(bytes, separator: separator) { Self.read($0, dialect: dialect, context: &context) }
            case .toClient: toClient.feed(bytes, separator: separator) { Self.read($0, dialect: dialect, context: &context) }
            }
            return isDone ? .done : .more
        }

        private static func read(_ command: UnsafeRawBufferPointer, dialect: Dialect, context: inout DecodeContext) -> Commands.After {
            dialect == .nmdc ? Commands.nmdc(command, transport: .tcp, context: &context) : Commands.adc(command, context: &context)
        }

        var flowEnd: FlowEnd {
            var end = FlowEnd()
            end.dialect = dialect
            end.fileBytesToServer = toServer.dataBytes
            end.fileBytesToClient = toClient.dataBytes
            return end
        }
    }

    /// Direct Connect over UDP: search results sent to an active searcher (NMDC `$SR ...|`,
    /// ADC `URES ...\n`).
    struct DatagramState {
        static func recognise(_ payload: UnsafeRawBufferPointer) -> Recognition {
            (openingMatch(payload, "$SR ") == .yes && payload.last == UInt8(ascii: "|"))
                || (openingMatch(payload, "URES ") == .yes && payload.last == 0x0A) ? .yes : .no
        }

        mutating func decode(_ payload: UnsafeRawBufferPointer, context: inout DecodeContext) -> Bool {
            guard Self.recognise(payload) == .yes else { return false }
            let body = UnsafeRawBufferPointer(rebasing: payload[0 ..< payload.count - 1])
            if payload[0] == UInt8(ascii: "$") {
                _ = Commands.nmdc(body, transport: .udp, context: &context)
            } else {
                _ = Commands.adc(body, context: &context)
            }
            context.recognised(.directConnect)
            return true
        }
    }
}
