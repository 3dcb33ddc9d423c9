import Foundation
import PeerWatchCore

/// CSV watch lists (RFC 4180: quoted fields, doubled quotes, line breaks inside quotes, CR LF
/// or LF) with a header naming the columns in any order: `kind` and `hash` are required;
/// `label`, `category` and `source` are kept when present (`source`, the body that listed the
/// hash, is added to the label).
///
/// Parsed as the file streams by, into one reused record buffer: memory beyond the index stays
/// at one record however long the file, and no string is made per row.
struct CSVWatchList {
    /// A record (a row with its quoted line breaks) longer than this is not a watch-list entry.
    static let maxRecordLength = 64 * 1024
    /// Rows have a handful of fields.
    static let maxFields = 64

    private enum State {
        case fieldStart, unquoted, quoted, quoteInQuoted
    }

    private let sourceIndex: Int
    private var state = State.fieldStart
    private var record: [UInt8] = []
    private var fieldEnds: [Int] = []
    private var overflow = false
    private var line = 1
    private var recordLine = 1
    private var atStart = true
    private var header: (kind: Int, hash: Int, label: Int?, category: Int?, source: Int?)?
    private var sawHeader = false
    /// A header without kind and hash: the rest of the file cannot be read.
    private var headerRefused = false
    private var label: [UInt8] = []

    init(sourceIndex: Int) {
        self.sourceIndex = sourceIndex
        record.reserveCapacity(512)
        fieldEnds.reserveCapacity(8)
    }

    /// Takes the next piece of the file.
    mutating func feed(_ piece: UnsafeRawBufferPointer, into builder: inout WatchListBuilder, report: inout ProblemReport) {
        var index = 0
        if atStart, !piece.isEmpty {
            atStart = false
            if piece.count >= 3, piece[0] == 0xEF, piece[1] == 0xBB, piece[2] == 0xBF { index = 3 }
        }
        while index < piece.count {
            // Runs of plain bytes are taken whole.
            if state == .unquoted || state == .quoted {
                var end = index
                if state == .quoted {
                    while end < piece.count, piece[end] != UInt8(ascii: "\""), piece[end] != 0x0A { end += 1 }
                } else {
                    while end < piece.count, piece[end] != UInt8(ascii: ","), piece[end] != 0x0A, piece[end] != 0x0D, piece[end] != UInt8(ascii: "\"") { end += 1 }
                }
                if end > index {
                    append(UnsafeRawBufferPointer(rebasing: piece[index ..< end]))
                    index = end
                    continue
                }
            }
            let byte = piece[index]
            index += 1
            switch state {
            case .quoted:
                if byte == UInt8(ascii: "\"") {
                    state = .quoteInQuoted
                } else {
                    if byte == 0x0A { line += 1 }
                    append(byte)
                }
            case .quoteInQuoted:
                if byte == UInt8(ascii: "\"") {
                    append(byte)
                    state = .quoted
                } else {
                    state = .unquoted
                    index -= 1
                }
            case .fieldStart, .unquoted:
                switch byte {
                case UInt8(ascii: "\"") where state == .fieldStart && isFieldEmpty:
                    state = .quoted
                case UInt8(ascii: ","):
                    endField()
                case 0x0D:
                    continue
                case 0x0A:
                    endRecord(into: &builder, report: &report)
                    line += 1
                    recordLine = line
                default:
                    state = .unquoted
                    append(byte)
                }
            }
        }
    }

    /// The end of the file: the last record, if it has no line break after it.
    mutating func finish(into builder: inout WatchListBuilder, report: inout ProblemReport) {
        if !record.isEmpty || !fieldEnds.isEmpty || state == .quoted || state == .quoteInQuoted {
            if state == .quoted { report.add(.malformedLine, recordLine, "a quoted field is not closed before the end of the file") }
            endRecord(into: &builder, report: &report)
        }
        if !sawHeader { report.add(.malformedLine, nil, "no header line") }
    }

    private var fieldStart: Int { fieldEnds.last ?? 0 }
    private var isFieldEmpty: Bool { record.count == fieldStart }

    private mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard record.count + bytes.count <= Self.maxRecordLength else {
            overflow = true
            return
        }
        record.append(contentsOf: bytes)
    }

    private mutating func append(_ byte: UInt8) {
        guard record.count < Self.maxRecordLength else {
            overflow = true
            return
        }
        record.append(byte)
    }

    private mutating func endField() {
        if fieldEnds.count < Self.maxFields + 1 { fieldEnds.append(record.count) } else { overflow = true }
        state = .fieldStart
    }

    /// Field `index` of the record, trimmed of spaces and tabs (empty if absent).
    private func field(_ index: Int?, in raw: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let index, index < fieldEnds.count else { return UnsafeRawBufferPointer(rebasing: raw[0 ..< 0]) }
        let start = index == 0 ? 0 : fieldEnds[index - 1]
        return HTTPText.trim(UnsafeRawBufferPointer(rebasing: raw[start ..< fieldEnds[index]]))
    }

    private mutating func endRecord(into builder: inout WatchListBuilder, report: inout ProblemReport) {
        endField()
        defer {
            record.removeAll(keepingCapacity: true)
            fieldEnds.removeAll(keepingCapacity: true)
            overflow = false
            state = .fieldStart
        }
        if overflow {
            report.add(.malformedLine, recordLine, "the row is longer than \(Self.maxRecordLength) bytes or has more than \(Self.maxFields) fields")
            return
        }
        guard !headerRefused else { return }
        record.withUnsafeBytes { raw in
            let first = field(0, in: raw)
            // Blank lines and comment lines.
            if fieldEnds.count == 1, first.isEmpty || first.first == UInt8(ascii: "#") { return }
            guard let header else {
                readHeader(raw, report: &report)
                return
            }
            addRow(raw, header: header, into: &builder, report: &report)
        }
    }

    private mutating func readHeader(_ raw: UnsafeRawBufferPointer, report: inout ProblemReport) {
        sawHeader = true
        var names: [String] = []
        for index in 0 ..< fieldEnds.count {
            names.append(String(decoding: field(index, in: raw), as: UTF8.self).lowercased())
        }
        func column(_ name: String) -> Int? { names.firstIndex(of: name) }
        guard let kind = column("kind"), let hash = column("hash") else {
            report.add(.malformedLine, recordLine, "the header must name the columns kind and hash (found: \(names.joined(separator: ", ")))")
            headerRefused = true
            return
        }
        header = (kind, hash, column("label"), column("category"), column("source"))
    }

    private mutating func addRow(_ raw: UnsafeRawBufferPointer, header: (kind: Int, hash: Int, label: Int?, category: Int?, source: Int?),
                                 into builder: inout WatchListBuilder, report: inout ProblemReport) {
        let kindText = field(header.kind, in: raw)
        guard let kind = WatchListLoader.kind(named: kindText) else {
            report.add(.unknownKind, recordLine, "unknown kind \"\(WatchListLoader.text(kindText.prefix(40)))\" (known: \(ContentID.Kind.allCases.map(\.description).joined(separator: ", ")))")
            return
        }
        let hash = field(header.hash, in: raw)
        var digest = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let decoded = withUnsafeMutableBytes(of: &digest) { out -> Bool in
            let target = UnsafeMutableRawBufferPointer(rebasing: out[0 ..< kind.digestLength])
            if Hex.decode(hash, into: target) { return true }
            // urn:sha1 and Tiger Tree Hashes are often written in base32.
            guard kind == .sha1 || kind == .tth, let bytes = Base32.decode(String(decoding: hash, as: UTF8.self), byteCount: kind.digestLength) else { return false }
            for (offset, byte) in bytes.enumerated() { target[offset] = byte }
            return true
        }
        guard decoded else {
            report.add(.badDigest, recordLine, "\(kind) needs \(kind.digestLength * 2) hex digits, found \"\(WatchListLoader.text(hash.prefix(80)))\"")
            return
        }
        let labelBytes = field(header.label, in: raw), source = field(header.source, in: raw), categoryBytes = field(header.category, in: raw)
        for text in [labelBytes, source, categoryBytes] where text.contains(where: { $0 >= 0x80 }) && String(validating: text, as: UTF8.self) == nil {
            report.add(.badEncoding, recordLine, "the row is not valid UTF-8 text")
            return
        }
        label.removeAll(keepingCapacity: true)
        label.append(contentsOf: labelBytes)
        if !source.isEmpty {
            if label.isEmpty {
                label.append(contentsOf: source)
            } else {
                label.append(contentsOf: " (".utf8)
                label.append(contentsOf: source)
                label.append(UInt8(ascii: ")"))
            }
        }
        withUnsafeBytes(of: &digest) { bytes in
            label.withUnsafeBytes { labelRaw in
                builder.add(kind: kind, digest: UnsafeRawBufferPointer(rebasing: bytes[0 ..< kind.digestLength]), sourceIndex: sourceIndex,
                            line: recordLine, label: labelRaw, category: categoryBytes)
            }
        }
    }
}
