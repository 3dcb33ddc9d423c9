import Foundation
import PeerWatchCore

/// CSV watch lists (RFC 4180: quoted fields, doubled quotes, CR LF or LF) with a header naming
/// the columns in any order: `kind` and `hash` are required; `label`, `category` and `source`
/// are kept when present (`source`, the body that listed the hash, is added to the label).
enum CSVWatchList {
    static func parse(_ data: Data, sourceIndex: Int, into builder: inout WatchListBuilder, report: inout ProblemReport) {
        guard var text = String(data: data, encoding: .utf8) else {
            report.add(.badEncoding, nil, "the file is not UTF-8 text")
            return
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        var columns: [String: Int]?
        var sawHeader = false
        forEachRecord(text) { fields, line in
            guard let header = columns else {
                sawHeader = true
                let names = fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
                var found: [String: Int] = [:]
                for (index, name) in names.enumerated() where found[name] == nil { found[name] = index }
                guard found["hash"] != nil, found["kind"] != nil else {
                    report.add(.malformedLine, line, "the header must name the columns kind and hash (found: \(names.joined(separator: ", ")))")
                    return false
                }
                columns = found
                return true
            }
            func field(_ name: String) -> String? {
                guard let index = header[name], index < fields.count else { return nil }
                let value = fields[index].trimmingCharacters(in: .whitespaces)
                return value.isEmpty ? nil : value
            }
            guard fields.count <= 64 else {
                report.add(.malformedLine, line, "\(fields.count) fields; a row has a handful")
                return true
            }
            guard let kindName = field("kind"), let kind = ContentID.Kind(name: kindName) else {
                report.add(.unknownKind, line, "unknown kind \"\(field("kind") ?? "")\" (known: \(ContentID.Kind.allCases.map(\.description).joined(separator: ", ")))")
                return true
            }
            guard let hash = field("hash"), let id = ContentID(kind: kind, hex: hash) ?? base32(hash, kind: kind) else {
                report.add(.badDigest, line, "\(kind) needs \(kind.digestLength * 2) hex digits, found \"\((field("hash") ?? "").prefix(80))\"")
                return true
            }
            var label = field("label")
            if let source = field("source") { label = label.map { "\($0) (\(source))" } ?? source }
            id.withDigestBytes { builder.add(kind: kind, digest: $0, sourceIndex: sourceIndex, line: line, label: label, category: field("category")) }
            return true
        }
        if !sawHeader { report.add(.malformedLine, nil, "no header line") }
    }

    static func base32(_ text: String, kind: ContentID.Kind) -> ContentID? {
        guard kind == .sha1 || kind == .tth, let bytes = Base32.decode(text, byteCount: kind.digestLength) else { return nil }
        return ContentID(kind: kind, bytes: bytes)
    }

    /// Calls `body` with each non-empty record's fields and the line it starts on, until `body`
    /// returns `false`.
    static func forEachRecord(_ text: String, _ body: ([String], Int) -> Bool) {
        var fields: [String] = []
        var field = ""
        var inQuotes = false
        var line = 1
        var recordLine = 1
        var iterator = text.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar?
        func endRecord() -> Bool {
            fields.append(field)
            field = ""
            defer { fields = [] }
            if fields.count == 1, fields[0].trimmingCharacters(in: .whitespaces).isEmpty { return true }
            if fields.first?.hasPrefix("#") == true, fields.count == 1 { return true }
            return body(fields, recordLine)
        }
        while let scalar = pending ?? iterator.next() {
            pending = nil
            if inQuotes {
                if scalar == "\"" {
                    if let next = iterator.next() {
                        if next == "\"" { field.unicodeScalars.append("\"") } else { inQuotes = false; pending = next }
                    } else {
                        inQuotes = false
                    }
                } else {
                    if scalar == "\n" { line += 1 }
                    field.unicodeScalars.append(scalar)
                }
                continue
            }
            switch scalar {
            case "\"" where field.isEmpty: inQuotes = true
            case ",":
                fields.append(field)
                field = ""
            case "\r": continue
            case "\n":
                if !endRecord() { return }
                line += 1
                recordLine = line
            default:
                field.unicodeScalars.append(scalar)
            }
        }
        if !field.isEmpty || !fields.isEmpty { _ = endRecord() }
    }
}

/// Project VIC / VICS JSON exports: an object whose `value` (or `Media`) array holds media
/// records with `MD5`, `SHA1`, `Category` and `MediaID` (names in any case). Each hash becomes
/// an entry with the record's category; the label names the media id.
enum VICSWatchList {
    static func parse(_ data: Data, sourceIndex: Int, into builder: inout WatchListBuilder, report: inout ProblemReport) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data)
        } catch {
            report.add(.malformedLine, nil, "not valid JSON (\((error as NSError).userInfo["NSDebugDescription"] ?? error.localizedDescription))")
            return
        }
        guard let top = object as? [String: Any],
              let media = top.first(where: { ["value", "media"].contains($0.key.lowercased()) })?.value as? [Any] else {
            report.add(.malformedLine, nil, "expected an object with a \"value\" (or \"Media\") array of media records")
            return
        }
        for (index, item) in media.enumerated() {
            guard let record = item as? [String: Any] else {
                report.add(.malformedLine, nil, "value[\(index)] is not an object")
                continue
            }
            var fields: [String: Any] = [:]
            for (key, value) in record { fields[key.lowercased()] = value }
            let category: String? = switch fields["category"] {
            case let number as NSNumber: number.stringValue
            case let text as String: text
            default: nil
            }
            let label = (fields["mediaid"] as? NSNumber).map { "MediaID \($0)" } ?? (fields["mediaid"] as? String).map { "MediaID \($0)" }
            var added = 0
            for (key, kind) in [("md5", ContentID.Kind.md5), ("sha1", .sha1)] {
                guard let value = fields[key] as? String, !value.isEmpty else { continue }
                guard let id = ContentID(kind: kind, hex: value.trimmingCharacters(in: .whitespaces)) else {
                    report.add(.badDigest, nil, "value[\(index)].\(key.uppercased()): not \(kind.digestLength * 2) hex digits: \"\(value.prefix(80))\"")
                    continue
                }
                id.withDigestBytes { builder.add(kind: kind, digest: $0, sourceIndex: sourceIndex, line: index + 1, label: label, category: category) }
                added += 1
            }
            if added == 0, fields["md5"] == nil, fields["sha1"] == nil {
                report.add(.malformedLine, nil, "value[\(index)] has neither MD5 nor SHA1")
            }
        }
    }
}
