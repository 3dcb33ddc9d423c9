import PeerWatchCore

/// Project VIC / VICS JSON exports: an object whose `value` (or `Media`) array holds media
/// records with `MD5`, `SHA1`, `Category` and `MediaID` (names in any case). Each hash becomes an
/// entry with the record's category; the label names the media id.
///
/// Exports of millions of records run to gigabytes, so the file is tokenized as it streams by:
/// one pass, a small stack of open containers, and of each media record only the four fields
/// wanted (hashes, category, id); everything else, however nested, is skipped without being
/// kept. Memory beyond the index stays at one record.
struct VICSWatchList {
    /// Real exports nest a few levels (a record's file list, its tags); far deeper is not one.
    static let maxDepth = 32
    /// A kept value longer than this (a hash is 40 characters) is not one.
    static let maxKeptValue = 256

    private enum Container { case object, array }

    private enum State {
        /// Between tokens.
        case structure
        /// Inside a string; `escape` after a backslash, `unicode` while reading \uXXXX digits.
        case string(escape: Bool)
        case unicode(digits: Int, value: UInt32)
        /// Inside a number or a literal (true, false, null).
        case bare
        case failed
    }

    /// What a string being read is for.
    private enum Target { case key, keptValue, skipped }

    private let sourceIndex: Int
    private var state = State.structure
    private var stack: [Container] = []
    /// Whether the next token in the innermost object is a key.
    private var expectingKey = false
    private var line = 1
    private var started = false
    private var finishedTop = false

    private var target = Target.skipped
    private var text: [UInt8] = []
    private var textTooLong = false
    private var key: [UInt8] = []

    /// The depth of the media array (2) once its key was seen at the top level.
    private var mediaArrayDepth: Int?
    private var pendingMediaKey = false
    private var sawMediaArray = false
    private var elementIndex = -1
    private var recordLine = 0
    private var inRecord = false
    private var fields = Fields()
    private var bare: [UInt8] = []
    private var label: [UInt8] = []

    /// One record's wanted fields, in buffers reused from record to record.
    private struct Fields {
        var md5 = Field(), sha1 = Field(), category = Field(), mediaID = Field()

        mutating func reset() {
            md5.reset()
            sha1.reset()
            category.reset()
            mediaID.reset()
        }
    }

    private struct Field {
        var bytes: [UInt8] = []
        var present = false
        var tooLong = false

        mutating func reset() {
            bytes.removeAll(keepingCapacity: true)
            present = false
            tooLong = false
        }

        mutating func set(_ value: [UInt8], tooLong: Bool) {
            bytes.removeAll(keepingCapacity: true)
            bytes.append(contentsOf: value)
            present = true
            self.tooLong = tooLong
        }
    }

    init(sourceIndex: Int) {
        self.sourceIndex = sourceIndex
        text.reserveCapacity(64)
    }

    /// Takes the next piece of the file.
    mutating func feed(_ piece: UnsafeRawBufferPointer, into builder: inout WatchListBuilder, report: inout ProblemReport) {
        var index = 0
        if !started, !piece.isEmpty {
            started = true
            if piece.count >= 3, piece[0] == 0xEF, piece[1] == 0xBB, piece[2] == 0xBF { index = 3 }
        }
        while index < piece.count {
            switch state {
            case .failed:
                return
            case .string(let escape):
                if escape {
                    let byte = piece[index]
                    index += 1
                    switch byte {
                    case UInt8(ascii: "u"): state = .unicode(digits: 0, value: 0)
                    case UInt8(ascii: "n"): keep(0x0A); state = .string(escape: false)
                    case UInt8(ascii: "t"): keep(0x09); state = .string(escape: false)
                    case UInt8(ascii: "r"): keep(0x0D); state = .string(escape: false)
                    case UInt8(ascii: "b"): keep(0x08); state = .string(escape: false)
                    case UInt8(ascii: "f"): keep(0x0C); state = .string(escape: false)
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): keep(byte); state = .string(escape: false)
                    default: fail("a bad escape in a string", report: &report)
                    }
                    continue
                }
                // The fast path: run to the next quote or backslash.
                var end = index
                while end < piece.count, piece[end] != UInt8(ascii: "\""), piece[end] != UInt8(ascii: "\\"), piece[end] >= 0x20 { end += 1 }
                if target != .skipped { keep(UnsafeRawBufferPointer(rebasing: piece[index ..< end])) }
                index = end
                guard index < piece.count else { return }
                let byte = piece[index]
                index += 1
                if byte == UInt8(ascii: "\\") {
                    state = .string(escape: true)
                } else if byte == UInt8(ascii: "\"") {
                    state = .structure
                    endString(into: &builder, report: &report)
                } else {
                    fail("a control character in a string", report: &report)
                }
            case .unicode(let digits, let value):
                let byte = piece[index]
                index += 1
                guard let digit = Hex.value(of: byte) else {
                    fail("a bad \\u escape", report: &report)
                    continue
                }
                let next = value << 4 | UInt32(digit)
                if digits == 3 {
                    if let scalar = Unicode.Scalar(next) { for unit in String(Character(scalar)).utf8 { keep(unit) } }
                    state = .string(escape: false)
                } else {
                    state = .unicode(digits: digits + 1, value: next)
                }
            case .bare:
                let byte = piece[index]
                switch byte {
                case UInt8(ascii: "0") ... UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"),
                     UInt8(ascii: "a") ... UInt8(ascii: "z"):
                    if bare.count < Self.maxKeptValue { bare.append(byte) }
                    index += 1
                default:
                    state = .structure
                    endBare(report: &report)
                }
            case .structure:
                let byte = piece[index]
                index += 1
                structural(byte, into: &builder, report: &report)
            }
        }
    }

    /// The end of the file.
    mutating func finish(into builder: inout WatchListBuilder, report: inout ProblemReport) {
        if case .bare = state {
            state = .structure
            endBare(report: &report)
        }
        if case .failed = state { return }
        guard finishedTop, stack.isEmpty, case .structure = state else {
            report.add(.malformedLine, line, "not valid JSON: the file ends inside the document")
            return
        }
        if !sawMediaArray {
            report.add(.malformedLine, nil, "expected an object with a \"value\" (or \"Media\") array of media records")
        }
    }

    private mutating func fail(_ reason: String, report: inout ProblemReport) {
        report.add(.malformedLine, line, "not valid JSON: \(reason)")
        state = .failed
    }

    private mutating func keep(_ byte: UInt8) {
        guard target != .skipped else { return }
        if text.count < Self.maxKeptValue { text.append(byte) } else { textTooLong = true }
    }

    private mutating func keep(_ bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        if text.count + bytes.count <= Self.maxKeptValue { text.append(contentsOf: bytes) } else { textTooLong = true }
    }

    /// Whether a value now is a member value of a media record (depth 3: top object, media
    /// array, the record).
    private var atRecordMember: Bool { inRecord && stack.count == 3 && stack.last == .object }

    private mutating func structural(_ byte: UInt8, into builder: inout WatchListBuilder, report: inout ProblemReport) {
        switch byte {
        case 0x20, 0x09, 0x0D: return
        case 0x0A:
            line += 1
            return
        default: break
        }
        guard !finishedTop else { return fail("more after the document's end", report: &report) }
        switch byte {
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            guard stack.count < Self.maxDepth else { return fail("nested deeper than \(Self.maxDepth)", report: &report) }
            let isObject = byte == UInt8(ascii: "{")
            // The media array: the value of the top-level "value" or "Media" key.
            if pendingMediaKey, stack.count == 1, !isObject {
                mediaArrayDepth = 2
                sawMediaArray = true
            }
            pendingMediaKey = false
            if elementStarts(isObject: isObject, report: &report) {
                inRecord = true
                recordLine = line
                fields.reset()
            }
            stack.append(isObject ? .object : .array)
            expectingKey = isObject
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            guard let open = stack.last, open == (byte == UInt8(ascii: "}") ? .object : .array) else {
                return fail("a '\(Character(Unicode.Scalar(byte)))' that closes nothing open", report: &report)
            }
            stack.removeLast()
            if open == .object, stack.count == 2, inRecord {
                inRecord = false
                endRecord(into: &builder, report: &report)
            }
            if stack.count == 1, mediaArrayDepth == 2, open == .array { mediaArrayDepth = nil }
            if stack.isEmpty { finishedTop = true }
            expectingKey = false
        case UInt8(ascii: ","):
            guard let open = stack.last else { return fail("a ',' outside any object or array", report: &report) }
            expectingKey = open == .object
        case UInt8(ascii: ":"):
            expectingKey = false
        case UInt8(ascii: "\""):
            text.removeAll(keepingCapacity: true)
            textTooLong = false
            if expectingKey {
                target = .key
            } else {
                pendingMediaKey = false
                _ = elementStarts(isObject: false, report: &report)
                target = atRecordMember && wanted(key) ? .keptValue : .skipped
            }
            state = .string(escape: false)
        case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"), UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            pendingMediaKey = false
            _ = elementStarts(isObject: false, report: &report)
            bare.removeAll(keepingCapacity: true)
            bare.append(byte)
            state = .bare
        default:
            fail("an unexpected '\(Character(Unicode.Scalar(byte)))'", report: &report)
        }
    }

    /// A value starts: if it is an element of the media array, count it, and say whether it is
    /// a record (an object) or report that it is not.
    private mutating func elementStarts(isObject: Bool, report: inout ProblemReport) -> Bool {
        guard stack.count == 2, mediaArrayDepth == 2, stack.last == .array else { return false }
        elementIndex += 1
        if !isObject { report.add(.malformedLine, line, "value[\(elementIndex)] is not an object") }
        return isObject
    }

    private func wanted(_ key: [UInt8]) -> Bool {
        Self.is(key, "md5") || Self.is(key, "sha1") || Self.is(key, "category") || Self.is(key, "mediaid")
    }

    /// Case-insensitive comparison with a lowercase ASCII name.
    private static func `is`(_ bytes: [UInt8], _ name: StaticString) -> Bool {
        guard bytes.count == name.utf8CodeUnitCount else { return false }
        for index in 0 ..< bytes.count where HTTPText.lowercased(bytes[index]) != name.utf8Start[index] { return false }
        return true
    }

    private mutating func endString(into builder: inout WatchListBuilder, report: inout ProblemReport) {
        switch target {
        case .key:
            key.removeAll(keepingCapacity: true)
            key.append(contentsOf: text)
            if stack.count == 1, Self.is(key, "value") || Self.is(key, "media") { pendingMediaKey = true }
        case .keptValue:
            store(text, tooLong: textTooLong)
        case .skipped:
            break
        }
        target = .skipped
    }

    private mutating func endBare(report: inout ProblemReport) {
        let isNull = bare.count == 4 && bare[0] == UInt8(ascii: "n")
        if atRecordMember, wanted(key), !isNull { store(bare, tooLong: false) }
    }

    private mutating func store(_ value: [UInt8], tooLong: Bool) {
        if Self.is(key, "md5") {
            fields.md5.set(value, tooLong: tooLong)
        } else if Self.is(key, "sha1") {
            fields.sha1.set(value, tooLong: tooLong)
        } else if Self.is(key, "category") {
            fields.category.set(value, tooLong: tooLong)
        } else if Self.is(key, "mediaid") {
            fields.mediaID.set(value, tooLong: tooLong)
        }
    }

    private mutating func endRecord(into builder: inout WatchListBuilder, report: inout ProblemReport) {
        label.removeAll(keepingCapacity: true)
        if !fields.mediaID.bytes.isEmpty {
            label.append(contentsOf: "MediaID ".utf8)
            label.append(contentsOf: fields.mediaID.bytes)
        }
        add(fields.md5, kind: .md5, name: "MD5", into: &builder, report: &report)
        add(fields.sha1, kind: .sha1, name: "SHA1", into: &builder, report: &report)
        if !fields.md5.present, !fields.sha1.present {
            report.add(.malformedLine, recordLine, "value[\(elementIndex)] has neither MD5 nor SHA1")
        }
    }

    private func add(_ field: Field, kind: ContentID.Kind, name: String, into builder: inout WatchListBuilder, report: inout ProblemReport) {
        guard !field.bytes.isEmpty else { return }
        var digest = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let decoded = !field.tooLong && field.bytes.withUnsafeBytes { raw in
            withUnsafeMutableBytes(of: &digest) { out in
                Hex.decode(HTTPText.trim(raw), into: UnsafeMutableRawBufferPointer(rebasing: out[0 ..< kind.digestLength]))
            }
        }
        guard decoded else {
            report.add(.badDigest, recordLine, "value[\(elementIndex)].\(name): not \(kind.digestLength * 2) hex digits: \"\(WatchListLoader.text(field.bytes.prefix(80)))\"")
            return
        }
        withUnsafeBytes(of: &digest) { bytes in
            label.withUnsafeBytes { labelRaw in
                fields.category.bytes.withUnsafeBytes { category in
                    builder.add(kind: kind, digest: UnsafeRawBufferPointer(rebasing: bytes[0 ..< kind.digestLength]), sourceIndex: sourceIndex,
                                line: recordLine, label: labelRaw, category: category)
                }
            }
        }
    }
}
