import Foundation
import PeerWatchCore

/// The formats watch lists come in.
public enum WatchListFormat: String, Sendable, CaseIterable {
    /// `kind:hex [label]` per line.
    case native
    /// CSV with a header naming `kind`, `hash`, `label`, `category`, `source` in any order.
    case csv
    /// One magnet URI per line; every exact topic becomes an entry, `dn` its label.
    case magnet
    /// One `ed2k://|file|name|size|hash|/` link per line.
    case ed2k
    /// A .torrent file, or a directory of them: v1 and v2 infohashes.
    case torrent
    /// The same, plus every piece hash as a `bt-piece` entry.
    case torrentPieces = "torrent+pieces"
    /// A Project VIC / VICS JSON export (`value` array of media with MD5, SHA1, Category).
    case vics
    /// One MD5 per line.
    case md5
    /// One SHA-1 per line.
    case sha1
}

/// One watch list to load: where it is, what format it is in, and what alerts call it.
///
/// Written on the command line as `[NAME=][FORMAT:]PATH`, for example `ncmec=md5:/lists/ncmec.txt`
/// or `vics:/lists/export.json`. Without a format, it is told from the file: `.csv`, `.json`
/// (VICS), `.torrent` or a directory, otherwise the first entry line (`magnet:?`, `ed2k://`,
/// `kind:hex`). A plain hash list must name its kind (`md5:` or `sha1:`).
public struct WatchListSpec: Sendable, Equatable, CustomStringConvertible {
    /// The file or directory.
    public var path: String
    /// The list's name in alerts (default: the file name without extension).
    public var name: String?
    /// The format, or `nil` to tell it from the file.
    public var format: WatchListFormat?

    public init(path: String, name: String? = nil, format: WatchListFormat? = nil) {
        self.path = path
        self.name = name
        self.format = format
    }

    /// Parses `[NAME=][FORMAT:]PATH`.
    public init(parsing text: String) {
        var rest = Substring(text)
        var name: String?
        if let equals = rest.firstIndex(of: "="), !rest[..<equals].contains("/") {
            name = String(rest[..<equals])
            rest = rest[rest.index(after: equals)...]
        }
        var format: WatchListFormat?
        if let colon = rest.firstIndex(of: ":"), let known = WatchListFormat(rawValue: String(rest[..<colon]).lowercased()) {
            format = known
            rest = rest[rest.index(after: colon)...]
        }
        self.init(path: String(rest), name: name?.isEmpty == true ? nil : name, format: format)
    }

    /// The name alerts use.
    public var listName: String {
        name ?? ((path as NSString).lastPathComponent as NSString).deletingPathExtension
    }

    public var description: String {
        (name.map { "\($0)=" } ?? "") + (format.map { "\($0.rawValue):" } ?? "") + path
    }
}
