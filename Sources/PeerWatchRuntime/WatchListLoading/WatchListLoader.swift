import Crypto
import Dispatch
import Foundation
import PeerWatchCore

/// Reads watch lists, in every format PeerWatch knows, into one snapshot.
///
/// A list with any bad line is refused whole and every problem is reported as
/// `file:line: message`, so that nobody runs on half a list without knowing. Each list keeps its
/// name, format, SHA-256 and (when lists are signed) the key that signed it.
public enum WatchListLoader {
    /// A line longer than this is not a watch-list entry.
    public static let maxLineLength = 4_096
    /// Problems reported per file before the rest are summarised.
    public static let maxReportedProblems = 100

    /// Loads `paths` as auto-detected lists (the native format for plain text).
    public static func load(paths: [String]) throws(WatchListLoadError) -> WatchListSnapshot {
        try load(paths.map { WatchListSpec(path: $0) })
    }

    /// Loads every list into one snapshot.
    /// - Throws: `WatchListLoadError` with every problem found, if any.
    public static func load(_ specs: [WatchListSpec], keys: TrustedKeys = .none) throws(WatchListLoadError) -> WatchListSnapshot {
        var builder = WatchListBuilder()
        var problems: [ConfigurationError] = []
        var names = Set<String>()
        for spec in specs {
            guard names.insert(spec.listName).inserted else {
                problems.append(ConfigurationError(code: .badValue, file: spec.path, line: nil,
                                                   message: "another list is already named \"\(spec.listName)\"; give one a name with NAME=PATH"))
                continue
            }
            load(spec, keys: keys, into: &builder, problems: &problems)
        }
        guard problems.isEmpty else { throw WatchListLoadError(problems: problems) }
        // Moved, not copied: a copy would share the records, and sorting them in place would copy them all.
        return (consume builder).build()
    }

    /// Loads one list held in memory, in `format` (a line format, CSV or VICS), as if read from
    /// a file named `name`: for tools and fuzzing.
    public static func load(bytes: [UInt8], format: WatchListFormat, name: String = "memory") throws(WatchListLoadError) -> WatchListSnapshot {
        var builder = WatchListBuilder()
        var report = ProblemReport(file: name)
        guard let sourceIndex = builder.addSource(WatchListSource(name: name, path: name, sha256: Hex.encode(Array(SHA256.hash(data: bytes))), format: format.rawValue)) else {
            throw WatchListLoadError(problems: [])
        }
        bytes.withUnsafeBytes { raw in
            switch format {
            case .native, .md5, .sha1:
                var lines = LineSplitter(maxLength: maxLineLength)
                let fixed: ContentID.Kind? = format == .md5 ? .md5 : format == .sha1 ? .sha1 : nil
                lines.feed(raw) { line, number in parseLine(line, number: number, kind: fixed, sourceIndex: sourceIndex, into: &builder, report: &report) }
                lines.finish { line, number in parseLine(line, number: number, kind: fixed, sourceIndex: sourceIndex, into: &builder, report: &report) }
            case .magnet, .ed2k:
                var lines = LineSplitter(maxLength: maxLineLength)
                lines.feed(raw) { line, number in parseLink(line, number: number, ed2k: format == .ed2k, sourceIndex: sourceIndex, into: &builder, report: &report) }
                lines.finish { line, number in parseLink(line, number: number, ed2k: format == .ed2k, sourceIndex: sourceIndex, into: &builder, report: &report) }
            case .csv:
                var parser = CSVWatchList(sourceIndex: sourceIndex)
                parser.feed(raw, into: &builder, report: &report)
                parser.finish(into: &builder, report: &report)
            case .vics:
                var parser = VICSWatchList(sourceIndex: sourceIndex)
                parser.feed(raw, into: &builder, report: &report)
                parser.finish(into: &builder, report: &report)
            case .torrent, .torrentPieces:
                addTorrent(bytes, file: name, pieces: format == .torrentPieces, sourceIndex: sourceIndex, into: &builder, report: &report)
            }
        }
        guard report.problems.isEmpty else { throw WatchListLoadError(problems: report.problems) }
        return (consume builder).build()
    }

    /// The SHA-256 a list is known and signed by: of the file's bytes, or for a directory of
    /// .torrent files of its manifest (the sorted lines `relative-path<TAB>sha256-of-file`).
    public static func digest(of path: String) throws(ConfigurationError) -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ConfigurationError(code: .unreadable, file: path, line: nil, message: "no such file or directory")
        }
        guard isDirectory.boolValue else { return try WatchListFile.read(path) { _ in }.sha256 }
        let (manifest, _, problems) = torrentDirectory(path)
        if let first = problems.first { throw first }
        return Hex.encode(Array(SHA256.hash(data: Data(manifest.utf8))))
    }

    /// A directory's .torrent files (sorted by relative path), their manifest, and the files it
    /// could not read.
    static func torrentDirectory(_ path: String) -> (manifest: String, contents: [(String, [UInt8])], problems: [ConfigurationError]) {
        let root = URL(fileURLWithPath: path)
        var files: [String] = []
        if let walker = FileManager.default.enumerator(atPath: path) {
            for case let relative as String in walker where relative.lowercased().hasSuffix(".torrent") { files.append(relative) }
        }
        files.sort()
        var manifest = ""
        var contents: [(String, [UInt8])] = []
        var problems: [ConfigurationError] = []
        for relative in files {
            do {
                let (bytes, summary) = try WatchListFile.readAll(root.appendingPathComponent(relative).path, limit: maxTorrentFileLength)
                manifest += "\(relative)\t\(summary.sha256)\n"
                contents.append((relative, bytes))
            } catch {
                problems.append(error)
            }
        }
        return (manifest, contents, problems)
    }

    /// Loads one list into `builder`, appending any problems.
    static func load(_ spec: WatchListSpec, keys: TrustedKeys, into builder: inout WatchListBuilder, problems: inout [ConfigurationError]) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: spec.path, isDirectory: &isDirectory) else {
            problems.append(ConfigurationError(code: .unreadable, file: spec.path, line: nil, message: "no such file or directory"))
            return
        }
        if isDirectory.boolValue {
            let format = spec.format ?? .torrent
            guard format == .torrent || format == .torrentPieces else {
                problems.append(ConfigurationError(code: .unknownFormat, file: spec.path, line: nil, message: "a directory can only hold .torrent files"))
                return
            }
            loadTorrentDirectory(spec, pieces: format == .torrentPieces, keys: keys, into: &builder, problems: &problems)
            return
        }
        let sample: [UInt8], size: Int
        do {
            (sample, size) = try WatchListFile.sample(spec.path)
        } catch {
            problems.append(error)
            return
        }
        let format: WatchListFormat
        if let stated = spec.format {
            format = stated
        } else if let detected = detect(path: spec.path, sample: sample) {
            format = detected
        } else {
            problems.append(ConfigurationError(code: .unknownFormat, file: spec.path, line: nil,
                                               message: "cannot tell the format; name it as FORMAT:PATH (\(WatchListFormat.allCases.map(\.rawValue).joined(separator: ", ")))"))
            return
        }
        guard let sourceIndex = builder.addSource(WatchListSource(name: spec.listName, path: spec.path, sha256: "", format: format.rawValue, signer: nil)) else {
            problems.append(ConfigurationError(code: .badValue, file: spec.path, line: nil, message: "too many watch lists"))
            return
        }
        reserve(for: format, sample: sample, size: size, into: &builder)
        let before = builder.count
        var report = ProblemReport(file: spec.path)
        let summary: WatchListFile.Summary
        do {
            switch format {
            case .native, .md5, .sha1:
                var lines = LineSplitter(maxLength: maxLineLength)
                let fixed: ContentID.Kind? = format == .md5 ? .md5 : format == .sha1 ? .sha1 : nil
                summary = try WatchListFile.read(spec.path) { piece in
                    lines.feed(piece) { line, number in parseLine(line, number: number, kind: fixed, sourceIndex: sourceIndex, into: &builder, report: &report) }
                }
                lines.finish { line, number in parseLine(line, number: number, kind: fixed, sourceIndex: sourceIndex, into: &builder, report: &report) }
            case .magnet, .ed2k:
                var lines = LineSplitter(maxLength: maxLineLength)
                summary = try WatchListFile.read(spec.path) { piece in
                    lines.feed(piece) { line, number in parseLink(line, number: number, ed2k: format == .ed2k, sourceIndex: sourceIndex, into: &builder, report: &report) }
                }
                lines.finish { line, number in parseLink(line, number: number, ed2k: format == .ed2k, sourceIndex: sourceIndex, into: &builder, report: &report) }
            case .csv:
                var parser = CSVWatchList(sourceIndex: sourceIndex)
                summary = try WatchListFile.read(spec.path) { piece in parser.feed(piece, into: &builder, report: &report) }
                parser.finish(into: &builder, report: &report)
            case .vics:
                var parser = VICSWatchList(sourceIndex: sourceIndex)
                summary = try WatchListFile.read(spec.path) { piece in parser.feed(piece, into: &builder, report: &report) }
                parser.finish(into: &builder, report: &report)
            case .torrent, .torrentPieces:
                let (bytes, read) = try WatchListFile.readAll(spec.path, limit: maxTorrentFileLength)
                summary = read
                addTorrent(bytes, file: spec.path, pieces: format == .torrentPieces, sourceIndex: sourceIndex, into: &builder, report: &report)
            }
        } catch {
            problems.append(error)
            return
        }
        var signer: String?
        if keys.isEnabled {
            switch keys.signer(ofSHA256: summary.sha256, signaturePath: spec.path + ".sig") {
            case .success(let name): signer = name
            case .failure(let problem):
                problems.append(problem)
                return
            }
        }
        builder.updateSource(sourceIndex, WatchListSource(name: spec.listName, path: spec.path, sha256: summary.sha256, format: format.rawValue, signer: signer))
        if report.problems.isEmpty, builder.count == before {
            report.add(.empty, nil, "the watch list holds no entries")
        }
        problems += report.problems
    }

    /// A .torrent listed on its own may be this large (a torrent of a huge collection with
    /// its piece hashes); larger is no torrent.
    static let maxTorrentFileLength = 64 << 20

    /// Tells a file's format from its extension or its first entry line.
    static func detect(path: String, sample: [UInt8]) -> WatchListFormat? {
        switch (path as NSString).pathExtension.lowercased() {
        case "csv": return .csv
        case "json": return .vics
        case "torrent": return .torrent
        default: break
        }
        // Lenient: a bad byte further on is reported by the parser, with its line.
        let text = String(decoding: sample, as: UTF8.self)
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\u{FEFF}"))
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.lowercased().hasPrefix("magnet:?") { return .magnet }
            if line.lowercased().hasPrefix("ed2k://") { return .ed2k }
            if let colon = line.firstIndex(of: ":"), ContentID.Kind(name: line[..<colon]) != nil { return .native }
            return nil
        }
        return .native
    }

    // MARK: - Reserving room

    /// Reserves room for the entries a file of `size` bytes holds, estimated from its first
    /// bytes, and never more than the file could hold at the format's shortest entry: a list
    /// whose first 64 KiB are blank lines and the rest a sparse hole must not reserve gigabytes.
    static func reserve(for format: WatchListFormat, sample: [UInt8], size: Int, into builder: inout WatchListBuilder) {
        let kind: ContentID.Kind
        let shortest: Int
        switch format {
        case .md5: (kind, shortest) = (.md5, 33)
        case .sha1: (kind, shortest) = (.sha1, 41)
        case .native:
            // The first entry's kind; the shortest native line is "md5:" and 32 digits.
            let text = String(decoding: sample.prefix(4_096), as: UTF8.self)
            let first = text.split(whereSeparator: \.isNewline).first { !$0.hasPrefix("#") && $0.contains(":") }
            kind = first.flatMap { line in ContentID.Kind(name: line[..<(line.firstIndex(of: ":") ?? line.endIndex)]) } ?? .btih
            shortest = 37
        case .csv: (kind, shortest) = (.sha1, 40)
        case .vics: (kind, shortest) = (.md5, 45)
        case .magnet, .ed2k, .torrent, .torrentPieces: return
        }
        guard !sample.isEmpty else { return }
        // Entry-looking lines only: blank lines and comments hold no entries.
        var sampleLines = 0
        var lineStart = true, entry = false
        for byte in sample {
            if byte == 0x0A {
                if entry { sampleLines += 1 }
                lineStart = true
                entry = false
            } else if lineStart, byte != 0x20, byte != 0x09, byte != 0x0D {
                lineStart = false
                entry = byte != UInt8(ascii: "#")
            }
        }
        guard sampleLines > 0 else { return }
        let estimate = Int(Double(size) / Double(sample.count) * Double(sampleLines) * 1.02)
        let most = size / shortest + 1
        // A VICS record usually carries two hashes, on several lines; its estimate is by lines.
        builder.reserve(min(estimate, most), of: kind)
    }

    // MARK: - Line formats

    /// A native line (`kind:hex [label]`), or a plain hash line of `kind` (`hex [label]`),
    /// parsed straight from the file's bytes.
    static func parseLine(_ line: LineSplitter.Line, number lineNumber: Int, kind fixedKind: ContentID.Kind?, sourceIndex: Int,
                          into builder: inout WatchListBuilder, report: inout ProblemReport) {
        guard case .text(let raw) = line else {
            if case .tooLong(let length) = line {
                report.add(.malformedLine, lineNumber, "line is \(length) bytes long; an entry is at most \(maxLineLength)")
            }
            return
        }
        let line = HTTPText.trim(raw)
        if line.isEmpty || line[0] == UInt8(ascii: "#") { return }
        // A line that fails to parse may simply not be text; say so rather than why it is not
        // an entry (checked only on failure, so good lines pay nothing).
        func fail(_ code: ConfigurationError.Code, _ message: String) {
            if String(validating: line, as: UTF8.self) == nil {
                report.add(.badEncoding, lineNumber, "line is not valid UTF-8 text")
            } else {
                report.add(code, lineNumber, message)
            }
        }
        let tokenEnd = line.firstIndex { $0 == 0x20 || $0 == 0x09 } ?? line.count
        let token = UnsafeRawBufferPointer(rebasing: line[0 ..< tokenEnd])
        let kind: ContentID.Kind
        let hex: UnsafeRawBufferPointer
        if let fixedKind {
            kind = fixedKind
            hex = token
        } else {
            guard let colon = token.firstIndex(of: UInt8(ascii: ":")) else {
                fail(.malformedLine, "expected kind:hex, found \"\(text(token.prefix(80)))\"")
                return
            }
            let name = UnsafeRawBufferPointer(rebasing: token[0 ..< colon])
            guard let known = Self.kind(named: name) else {
                let names = ContentID.Kind.allCases.map(\.description).joined(separator: ", ")
                fail(.unknownKind, "unknown kind \"\(text(name.prefix(40)))\" (known: \(names))")
                return
            }
            kind = known
            hex = UnsafeRawBufferPointer(rebasing: token[(colon + 1)...])
        }
        var digest = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let decoded = withUnsafeMutableBytes(of: &digest) { out -> Bool in
            Hex.decode(hex, into: UnsafeMutableRawBufferPointer(rebasing: out[0 ..< kind.digestLength]))
        }
        guard decoded else {
            fail(.badDigest, "\(kind) needs \(kind.digestLength * 2) hex digits, found \"\(text(hex.prefix(80)))\"")
            return
        }
        var label = UnsafeRawBufferPointer(start: nil, count: 0)
        if tokenEnd < line.count {
            label = HTTPText.trim(UnsafeRawBufferPointer(rebasing: line[tokenEnd...]))
            if !label.isEmpty, String(validating: label, as: UTF8.self) == nil {
                report.add(.badEncoding, lineNumber, "the label is not valid UTF-8 text")
                return
            }
        }
        withUnsafeBytes(of: &digest) { bytes in
            builder.add(kind: kind, digest: UnsafeRawBufferPointer(rebasing: bytes[0 ..< kind.digestLength]),
                        sourceIndex: sourceIndex, line: lineNumber, label: label, category: nil)
        }
    }

    /// A magnet URI or an ed2k link line.
    static func parseLink(_ line: LineSplitter.Line, number lineNumber: Int, ed2k: Bool, sourceIndex: Int,
                          into builder: inout WatchListBuilder, report: inout ProblemReport) {
        guard case .text(let raw) = line else {
            if case .tooLong(let length) = line {
                report.add(.malformedLine, lineNumber, "line is \(length) bytes long; a link is at most \(maxLineLength)")
            }
            return
        }
        guard let decoded = String(validating: raw, as: UTF8.self) else {
            report.add(.badEncoding, lineNumber, "line is not valid UTF-8 text")
            return
        }
        let line = decoded.trimmingCharacters(in: .whitespacesAndNewlines)
        if line.isEmpty || line.hasPrefix("#") { return }
        if ed2k {
            guard let (id, name) = ED2KLink.parse(line) else {
                report.add(.malformedLine, lineNumber, "not an ed2k file link (ed2k://|file|name|size|hash|/): \"\(line.prefix(80))\"")
                return
            }
            id.withDigestBytes { builder.add(kind: .ed2k, digest: $0, sourceIndex: sourceIndex, line: lineNumber, label: name, category: nil) }
        } else {
            guard line.lowercased().hasPrefix("magnet:?") else {
                report.add(.malformedLine, lineNumber, "not a magnet link: \"\(line.prefix(80))\"")
                return
            }
            let name = MagnetDisplayName.of(line)
            var found = 0
            _ = Array(line.utf8).withUnsafeBytes { raw in
                MagnetLink.parse(raw) { id in
                    found += 1
                    id.withDigestBytes { builder.add(kind: id.kind, digest: $0, sourceIndex: sourceIndex, line: lineNumber, label: name, category: nil) }
                }
            }
            if found == 0 { report.add(.badDigest, lineNumber, "the magnet link has no exact topic PeerWatch understands") }
        }
    }

    // MARK: - Torrents

    static func addTorrent(_ data: [UInt8], file: String, pieces: Bool, sourceIndex: Int, into builder: inout WatchListBuilder, report: inout ProblemReport) {
        let parsed = data.withUnsafeBytes { raw -> (TorrentInfo, [UInt8])? in
            guard let info = TorrentInfo(torrentFile: raw) else { return nil }
            var pieceHashes: [UInt8] = []
            if pieces {
                var reader = ByteReader(raw)
                if let torrent = try? Bencode.Dictionary(&reader), let hashes = torrent.dictionary("info")?.string("pieces") {
                    pieceHashes = Array(hashes)
                }
            }
            return (info, pieceHashes)
        }
        guard let (info, pieceHashes) = parsed else {
            report.add(.malformedLine, nil, "\(file): not a .torrent file with a v1 or v2 info dictionary")
            return
        }
        for id in [info.infoHashV1, info.infoHashV2].compactMap({ $0 }) {
            id.withDigestBytes { builder.add(kind: id.kind, digest: $0, sourceIndex: sourceIndex, line: 0, label: info.name, category: nil) }
        }
        pieceHashes.withUnsafeBytes { raw in
            var index = 0
            while (index + 1) * 20 <= raw.count {
                builder.add(kind: .btPiece, digest: UnsafeRawBufferPointer(rebasing: raw[(index * 20) ..< ((index + 1) * 20)]), sourceIndex: sourceIndex,
                            line: 0, label: info.name.map { "\($0) piece \(index)" }, category: nil)
                index += 1
            }
        }
    }

    /// Every .torrent below a directory, as one list; its SHA-256 is that of the sorted lines
    /// `relative-path<TAB>sha256-of-file`, and its signature (if required) signs those lines.
    static func loadTorrentDirectory(_ spec: WatchListSpec, pieces: Bool, keys: TrustedKeys, into builder: inout WatchListBuilder, problems: inout [ConfigurationError]) {
        let root = URL(fileURLWithPath: spec.path)
        let (manifest, contents, unreadable) = torrentDirectory(spec.path)
        problems += unreadable
        let manifestData = Data(manifest.utf8)
        let manifestSHA256 = Hex.encode(Array(SHA256.hash(data: manifestData)))
        var signer: String?
        if keys.isEnabled {
            switch keys.signer(ofSHA256: manifestSHA256, signaturePath: spec.path + ".sig") {
            case .success(let name): signer = name
            case .failure(let problem):
                problems.append(problem)
                return
            }
        }
        let format = pieces ? WatchListFormat.torrentPieces : .torrent
        guard let sourceIndex = builder.addSource(WatchListSource(name: spec.listName, path: spec.path, sha256: manifestSHA256,
                                                                  format: format.rawValue, signer: signer)) else {
            problems.append(ConfigurationError(code: .badValue, file: spec.path, line: nil, message: "too many watch lists"))
            return
        }
        let before = builder.count
        for (relative, data) in contents {
            var report = ProblemReport(file: root.appendingPathComponent(relative).path)
            addTorrent(data, file: relative, pieces: pieces, sourceIndex: sourceIndex, into: &builder, report: &report)
            problems += report.problems
        }
        if builder.count == before {
            problems.append(ConfigurationError(code: .empty, file: spec.path, line: nil, message: "the directory holds no .torrent files"))
        }
    }

    /// The kinds by their names' bytes, made once.
    static let kindNames: [(ContentID.Kind, [UInt8])] = ContentID.Kind.allCases.map { ($0, Array($0.description.utf8)) }

    /// The kind `bytes` name (in any case), looked up without allocating.
    static func kind(named bytes: UnsafeRawBufferPointer) -> ContentID.Kind? {
        for (kind, name) in kindNames where name.count == bytes.count {
            var same = true
            for index in 0 ..< name.count where HTTPText.lowercased(bytes[index]) != name[index] {
                same = false
                break
            }
            if same { return kind }
        }
        return nil
    }

    static func matches(_ bytes: UnsafeRawBufferPointer, _ name: String) -> Bool {
        let utf8 = Array(name.utf8)
        guard utf8.count == bytes.count else { return false }
        for (index, byte) in utf8.enumerated() where HTTPText.lowercased(bytes[index]) != byte { return false }
        return true
    }

    static func text<C: Collection<UInt8>>(_ bytes: C) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}

/// The problems found in one file, capped.
struct ProblemReport {
    let file: String
    private(set) var problems: [ConfigurationError] = []
    private var reported = 0

    init(file: String) { self.file = file }

    mutating func add(_ code: ConfigurationError.Code, _ line: Int?, _ message: String) {
        reported += 1
        if reported <= WatchListLoader.maxReportedProblems {
            problems.append(ConfigurationError(code: code, file: file, line: line, message: message))
        } else if reported == WatchListLoader.maxReportedProblems + 1 {
            problems.append(ConfigurationError(code: code, file: file, line: line, message: "further problems not shown"))
        }
    }
}

/// ed2k file links: `ed2k://|file|<name>|<size>|<md4 hash>|...|/`.
enum ED2KLink {
    static func parse(_ link: String) -> (ContentID, String?)? {
        let parts = link.split(separator: "|", omittingEmptySubsequences: false)
        guard parts.count >= 5, parts[0].lowercased() == "ed2k://", parts[1].lowercased() == "file",
              UInt64(parts[3]) != nil, let id = ContentID(kind: .ed2k, hex: parts[4]) else { return nil }
        let name = parts[2].removingPercentEncoding ?? String(parts[2])
        return (id, name.isEmpty ? nil : name)
    }
}

/// A magnet link's display name (`dn`), decoded.
enum MagnetDisplayName {
    static func of(_ link: String) -> String? {
        guard let query = link.split(separator: "?", maxSplits: 1).dropFirst().first else { return nil }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "dn" || parts[0].lowercased() == "amp;dn" else { continue }
            return String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
        }
        return nil
    }
}
