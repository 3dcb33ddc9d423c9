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
        return builder.build()
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
        // Mapped, not copied: a list of millions of lines is hundreds of megabytes.
        guard let data = try? Data(contentsOf: URL(fileURLWithPath: spec.path), options: .alwaysMapped) else {
            problems.append(ConfigurationError(code: .unreadable, file: spec.path, line: nil, message: "cannot read the watch list"))
            return
        }
        // Hash the file on the other core while it is parsed.
        let digest = DigestBox()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { digest.value = Hex.encode(Array(SHA256.hash(data: data))) }
        var signer: String?
        if keys.isEnabled {
            switch keys.signer(of: data, signaturePath: spec.path + ".sig") {
            case .success(let name): signer = name
            case .failure(let problem):
                group.wait()
                problems.append(problem)
                return
            }
        }
        let format: WatchListFormat
        if let stated = spec.format {
            format = stated
        } else if let detected = detect(path: spec.path, data: data) {
            format = detected
        } else {
            group.wait()
            problems.append(ConfigurationError(code: .unknownFormat, file: spec.path, line: nil,
                                               message: "cannot tell the format; name it as FORMAT:PATH (\(WatchListFormat.allCases.map(\.rawValue).joined(separator: ", ")))"))
            return
        }
        guard let sourceIndex = builder.addSource(WatchListSource(name: spec.listName, path: spec.path, sha256: "", format: format.rawValue, signer: signer)) else {
            problems.append(ConfigurationError(code: .badValue, file: spec.path, line: nil, message: "too many watch lists"))
            return
        }
        let before = builder.count
        var report = ProblemReport(file: spec.path)
        switch format {
        case .native: parseLinesInParallel(data, kind: nil, sourceIndex: sourceIndex, into: &builder, report: &report)
        case .md5: parseLinesInParallel(data, kind: .md5, sourceIndex: sourceIndex, into: &builder, report: &report)
        case .sha1: parseLinesInParallel(data, kind: .sha1, sourceIndex: sourceIndex, into: &builder, report: &report)
        case .csv: CSVWatchList.parse(data, sourceIndex: sourceIndex, into: &builder, report: &report)
        case .magnet: parseLinkLines(data, ed2k: false, sourceIndex: sourceIndex, into: &builder, report: &report)
        case .ed2k: parseLinkLines(data, ed2k: true, sourceIndex: sourceIndex, into: &builder, report: &report)
        case .vics: VICSWatchList.parse(data, sourceIndex: sourceIndex, into: &builder, report: &report)
        case .torrent, .torrentPieces:
            addTorrent(data, file: spec.path, pieces: format == .torrentPieces, sourceIndex: sourceIndex, into: &builder, report: &report)
        }
        group.wait()
        builder.updateSource(sourceIndex, WatchListSource(name: spec.listName, path: spec.path, sha256: digest.value, format: format.rawValue, signer: signer))
        if report.problems.isEmpty, builder.count == before {
            report.add(.empty, nil, "the watch list holds no entries")
        }
        problems += report.problems
    }

    /// Tells a file's format from its extension or its first entry line.
    static func detect(path: String, data: Data) -> WatchListFormat? {
        switch (path as NSString).pathExtension.lowercased() {
        case "csv": return .csv
        case "json": return .vics
        case "torrent": return .torrent
        default: break
        }
        // Lenient: a bad byte further on is reported by the parser, with its line.
        let text = String(decoding: data.prefix(64 * 1024), as: UTF8.self)
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

    // MARK: - Line formats

    /// Files larger than this are parsed in two halves on two threads.
    static let parallelThreshold = 8 * 1024 * 1024

    /// Parses a line-per-entry file, a large one in two halves at once, and merges the halves
    /// in order (so the first of two equal entries is still the one earlier in the file).
    static func parseLinesInParallel(_ data: Data, kind: ContentID.Kind?, sourceIndex: Int, into builder: inout WatchListBuilder, report: inout ProblemReport) {
        guard data.count >= parallelThreshold else {
            parseLines(data, kind: kind, sourceIndex: sourceIndex, firstLine: 1, into: &builder, report: &report)
            return
        }
        // Split after a newline near the middle; the second half starts counting lines there.
        let middle = data.startIndex + data.count / 2
        guard let newline = data[middle...].firstIndex(of: 0x0A) else {
            parseLines(data, kind: kind, sourceIndex: sourceIndex, firstLine: 1, into: &builder, report: &report)
            return
        }
        let first = data[data.startIndex ... newline], second = data[(newline + 1)...]
        let secondFirstLine = 1 + first.withUnsafeBytes { countNewlines($0) }
        let other = PartialParse(builder: builder.emptyCopy(), report: ProblemReport(file: report.file))
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            var partial = other.builder
            var partialReport = other.report
            parseLines(second, kind: kind, sourceIndex: sourceIndex, firstLine: secondFirstLine, into: &partial, report: &partialReport)
            other.builder = partial
            other.report = partialReport
        }
        parseLines(first, kind: kind, sourceIndex: sourceIndex, firstLine: 1, into: &builder, report: &report)
        group.wait()
        builder.merge(other.builder)
        for problem in other.report.problems { report.add(problem.code, problem.line, problem.message) }
    }

    /// How many line feeds `bytes` holds.
    static func countNewlines(_ bytes: UnsafeRawBufferPointer) -> Int {
        var count = 0
        var index = 0
        while let found = ByteSearch.firstIndex(of: 0x0A, in: bytes, from: index) {
            count += 1
            index = found + 1
        }
        return count
    }

    /// Native lines (`kind:hex [label]`), or plain hash lines of `kind` (`hex [label]`), parsed
    /// straight from the file's bytes.
    static func parseLines(_ data: Data, kind fixedKind: ContentID.Kind?, sourceIndex: Int, firstLine: Int, into builder: inout WatchListBuilder, report: inout ProblemReport) {
        reserveForLines(data, fixedKind: fixedKind, into: &builder)
        data.withUnsafeBytes { raw in
            var start = raw.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
            var lineNumber = firstLine - 1
            var digest = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
            while start < raw.count {
                let end = ByteSearch.firstIndex(of: 0x0A, in: raw, from: start) ?? raw.count
                lineNumber += 1
                defer { start = end + 1 }
                var line = UnsafeRawBufferPointer(rebasing: raw[start ..< end])
                if line.last == 0x0D { line = UnsafeRawBufferPointer(rebasing: line[0 ..< line.count - 1]) }
                line = HTTPText.trim(line)
                if line.isEmpty || line[0] == UInt8(ascii: "#") { continue }
                guard line.count <= maxLineLength else {
                    report.add(.malformedLine, lineNumber, "line is \(line.count) bytes long; an entry is at most \(maxLineLength)")
                    continue
                }
                // A line that fails to parse may simply not be text; say so rather than why it
                // is not an entry (checked only on failure, so good lines pay nothing).
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
                        continue
                    }
                    let name = UnsafeRawBufferPointer(rebasing: token[0 ..< colon])
                    guard let known = ContentID.Kind.allCases.first(where: { matches(name, $0.description) }) else {
                        let names = ContentID.Kind.allCases.map(\.description).joined(separator: ", ")
                        fail(.unknownKind, "unknown kind \"\(text(name.prefix(40)))\" (known: \(names))")
                        continue
                    }
                    kind = known
                    hex = UnsafeRawBufferPointer(rebasing: token[(colon + 1)...])
                }
                let decoded = withUnsafeMutableBytes(of: &digest) { out -> Bool in
                    Hex.decode(hex, into: UnsafeMutableRawBufferPointer(rebasing: out[0 ..< kind.digestLength]))
                }
                guard decoded else {
                    fail(.badDigest, "\(kind) needs \(kind.digestLength * 2) hex digits, found \"\(text(hex.prefix(80)))\"")
                    continue
                }
                var label: String?
                if tokenEnd < line.count {
                    let rest = HTTPText.trim(UnsafeRawBufferPointer(rebasing: line[tokenEnd...]))
                    if !rest.isEmpty {
                        guard let valid = String(validating: rest, as: UTF8.self) else {
                            report.add(.badEncoding, lineNumber, "the label is not valid UTF-8 text")
                            continue
                        }
                        label = valid
                    }
                }
                withUnsafeBytes(of: &digest) { bytes in
                    builder.add(kind: kind, digest: UnsafeRawBufferPointer(rebasing: bytes[0 ..< kind.digestLength]),
                                sourceIndex: sourceIndex, line: lineNumber, label: label, category: nil)
                }
            }
        }
    }

    /// Reserves room for the entries a line-per-entry file holds, estimated from its first
    /// lines, so that a list of millions does not regrow its arrays again and again.
    static func reserveForLines(_ data: Data, fixedKind: ContentID.Kind?, into builder: inout WatchListBuilder) {
        let sample = data.prefix(64 * 1024)
        let lines = sample.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        guard lines > 0 else { return }
        let estimate = Int(Double(data.count) / Double(sample.count) * Double(lines) * 1.02)
        var kind = fixedKind
        if kind == nil, let colon = sample.firstIndex(of: UInt8(ascii: ":")) {
            kind = ContentID.Kind(name: String(decoding: sample[sample.startIndex ..< colon].suffix(8).drop { $0 == 0x0A || $0 == 0x23 }, as: UTF8.self))
                ?? ContentID.Kind.allCases.first { name in
                    let text = String(decoding: sample[sample.startIndex ..< colon], as: UTF8.self)
                    return text.hasSuffix(name.description)
                }
        }
        builder.reserve(estimate, of: kind ?? .btih)
    }

    /// Magnet URIs or ed2k links, one per line.
    static func parseLinkLines(_ data: Data, ed2k: Bool, sourceIndex: Int, into builder: inout WatchListBuilder, report: inout ProblemReport) {
        guard let text = String(data: data, encoding: .utf8) else {
            report.add(.badEncoding, nil, "the file is not UTF-8 text")
            return
        }
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.trimmingCharacters(in: .whitespacesAndNewlines).trimmingCharacters(in: CharacterSet(charactersIn: "\u{FEFF}"))
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard line.utf8.count <= maxLineLength else {
                report.add(.malformedLine, lineNumber, "line is \(line.utf8.count) bytes long; a link is at most \(maxLineLength)")
                continue
            }
            if ed2k {
                guard let (id, name) = ED2KLink.parse(line) else {
                    report.add(.malformedLine, lineNumber, "not an ed2k file link (ed2k://|file|name|size|hash|/): \"\(line.prefix(80))\"")
                    continue
                }
                id.withDigestBytes { builder.add(kind: .ed2k, digest: $0, sourceIndex: sourceIndex, line: lineNumber, label: name, category: nil) }
            } else {
                guard line.lowercased().hasPrefix("magnet:?") else {
                    report.add(.malformedLine, lineNumber, "not a magnet link: \"\(line.prefix(80))\"")
                    continue
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
    }

    // MARK: - Torrents

    static func addTorrent(_ data: Data, file: String, pieces: Bool, sourceIndex: Int, into builder: inout WatchListBuilder, report: inout ProblemReport) {
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
        var files: [String] = []
        if let walker = FileManager.default.enumerator(atPath: spec.path) {
            for case let relative as String in walker where relative.lowercased().hasSuffix(".torrent") { files.append(relative) }
        }
        files.sort()
        var manifest = ""
        var contents: [(String, Data)] = []
        for relative in files {
            guard let data = FileManager.default.contents(atPath: root.appendingPathComponent(relative).path) else {
                problems.append(ConfigurationError(code: .unreadable, file: root.appendingPathComponent(relative).path, line: nil, message: "cannot read"))
                continue
            }
            manifest += "\(relative)\t\(Hex.encode(Array(SHA256.hash(data: data))))\n"
            contents.append((relative, data))
        }
        let manifestData = Data(manifest.utf8)
        var signer: String?
        if keys.isEnabled {
            switch keys.signer(of: manifestData, signaturePath: spec.path + ".sig") {
            case .success(let name): signer = name
            case .failure(let problem):
                problems.append(problem)
                return
            }
        }
        let format = pieces ? WatchListFormat.torrentPieces : .torrent
        guard let sourceIndex = builder.addSource(WatchListSource(name: spec.listName, path: spec.path, sha256: Hex.encode(Array(SHA256.hash(data: manifestData))),
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

/// The second half of a parallel parse, handed back across threads.
private final class PartialParse: @unchecked Sendable {
    var builder: WatchListBuilder
    var report: ProblemReport
    init(builder: WatchListBuilder, report: ProblemReport) {
        self.builder = builder
        self.report = report
    }
}

/// A value set on another thread and read after waiting for it.
private final class DigestBox: @unchecked Sendable {
    var value = ""
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
