import Crypto
import Foundation
import PeerWatchCore

/// Reads watch-list files into a snapshot.
///
/// The native text format is one entry per line, `kind:hex [label]`, where kind is an `id_type`
/// (`btih`, `btih-v2`, `ed2k`, `sha1`, `tth`, `md5`, `bt-piece`) and hex is the digest in
/// either case. `#` starts a comment line; blank lines are ignored; a UTF-8 byte-order mark is
/// allowed at the start. A list whose lines are not all valid is refused whole, with every bad
/// line reported, so that nobody runs on half a list without knowing.
public enum WatchListLoader {
    /// A line longer than this is not a watch-list entry (the longest digest is 64 hex digits).
    public static let maxLineLength = 4_096
    /// Problems reported per file before the rest are summarised.
    public static let maxReportedProblems = 100

    /// Loads `paths` (native text format) into one snapshot; each file is a list named after
    /// its file name without extension.
    /// - Throws: `WatchListLoadError` with every problem found, if any.
    public static func load(paths: [String]) throws(WatchListLoadError) -> WatchListSnapshot {
        var sources: [WatchListSource] = []
        var entries: [WatchListEntry] = []
        var problems: [ConfigurationError] = []
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                problems.append(ConfigurationError(code: .unreadable, file: path, line: nil, message: "cannot read watch list"))
                continue
            }
            let sourceIndex = sources.count
            let name = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            sources.append(WatchListSource(name: name, path: path, sha256: Hex.encode(Array(SHA256.hash(data: data)))))
            let before = problems.count
            let parsed = parseNative(data, file: path, sourceIndex: sourceIndex, problems: &problems)
            if parsed.isEmpty, problems.count == before {
                problems.append(ConfigurationError(code: .empty, file: path, line: nil, message: "the watch list holds no entries"))
            }
            entries += parsed
        }
        guard problems.isEmpty else { throw WatchListLoadError(problems: problems) }
        return WatchListSnapshot(sources: sources, entries: entries)
    }

    /// Parses the native text format.
    static func parseNative(_ data: Data, file: String, sourceIndex: Int, problems: inout [ConfigurationError]) -> [WatchListEntry] {
        var entries: [WatchListEntry] = []
        var reported = 0
        func report(_ code: ConfigurationError.Code, _ line: Int, _ message: String) {
            reported += 1
            if reported <= maxReportedProblems {
                problems.append(ConfigurationError(code: code, file: file, line: line, message: message))
            } else if reported == maxReportedProblems + 1 {
                problems.append(ConfigurationError(code: code, file: file, line: line, message: "further problems not shown"))
            }
        }
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var lineNumber = 0
        for rawLine in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
            lineNumber += 1
            guard rawLine.count <= maxLineLength else {
                report(.malformedLine, lineNumber, "line is \(rawLine.count) bytes long; an entry is at most \(maxLineLength)")
                continue
            }
            guard let text = String(validating: rawLine, as: UTF8.self) else {
                report(.badEncoding, lineNumber, "line is not valid UTF-8 text")
                continue
            }
            let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty || line.hasPrefix("#") { continue }
            let token: Substring
            let label: String?
            if let space = line.firstIndex(where: { $0 == " " || $0 == "\t" }) {
                token = line[..<space]
                let rest = line[space...].trimmingCharacters(in: .whitespaces)
                label = rest.isEmpty ? nil : rest
            } else {
                token = line[...]
                label = nil
            }
            guard let colon = token.firstIndex(of: ":") else {
                report(.malformedLine, lineNumber, "expected kind:hex, found \"\(token.prefix(80))\"")
                continue
            }
            let kindName = token[..<colon]
            let digest = token[token.index(after: colon)...]
            guard let kind = ContentID.Kind(name: kindName) else {
                let known = ContentID.Kind.allCases.map(\.description).joined(separator: ", ")
                report(.unknownKind, lineNumber, "unknown kind \"\(kindName.prefix(40))\" (known: \(known))")
                continue
            }
            guard let id = ContentID(kind: kind, hex: digest) else {
                report(.badDigest, lineNumber, "\(kind) needs \(kind.digestLength * 2) hex digits, found \"\(digest.prefix(80))\"")
                continue
            }
            entries.append(WatchListEntry(id: id, sourceIndex: sourceIndex, label: label, category: nil, line: lineNumber))
        }
        return entries
    }
}
