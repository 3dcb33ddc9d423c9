import Crypto

/// What a BitTorrent info dictionary says, as evidence: its infohashes and what it describes.
///
/// The v1 infohash is the SHA-1 of the bencoded info dictionary (BEP 3); the v2 infohash is its
/// SHA-256 (BEP 52, `meta version` 2). A hybrid torrent has both.
public struct TorrentInfo: Sendable, Hashable {
    /// The SHA-1 infohash, when the dictionary has v1 `pieces`.
    public var infoHashV1: ContentID?
    /// The SHA-256 infohash, when the dictionary is `meta version` 2.
    public var infoHashV2: ContentID?
    /// The suggested name (`name`), cut to `maxNameLength` characters.
    public var name: String?
    /// Total size in bytes, for v1 single- and multi-file dictionaries.
    public var totalLength: Int64?
    /// How many files (1 for a single-file torrent).
    public var fileCount: Int?
    /// `piece length`.
    public var pieceLength: Int64?
    /// How many v1 pieces (`pieces` / 20).
    public var pieceCount: Int?

    /// Names longer than this are cut: evidence context, not a file system.
    public static let maxNameLength = 256
    /// The largest .torrent (or info dictionary) read: a v1 torrent of a very large collection
    /// stays under a few MiB; BEP 9 metadata of this size takes 512 messages.
    public static let maxLength = 8 * 1024 * 1024

    /// Reads a bencoded info dictionary (its exact bytes, as they are hashed).
    /// - Returns: `nil` if it is not a valid info dictionary with at least one infohash.
    public init?(infoDictionary bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= Self.maxLength else { return nil }
        var reader = ByteReader(bytes)
        guard let info = try? Bencode.Dictionary(&reader), reader.isEmpty else { return nil }
        if let pieces = info.string("pieces"), pieces.count % 20 == 0 {
            infoHashV1 = ContentID(kind: .btih, bytes: Array(Insecure.SHA1.hash(data: bytes)))
            pieceCount = pieces.count / 20
        }
        if info.integer("meta version") == 2 {
            infoHashV2 = ContentID(kind: .btihV2, bytes: Array(SHA256.hash(data: bytes)))
        }
        guard infoHashV1 != nil || infoHashV2 != nil else { return nil }
        if let rawName = info.string("name.utf-8") ?? info.string("name") {
            name = String(String(decoding: rawName, as: UTF8.self).prefix(Self.maxNameLength))
        }
        pieceLength = info.integer("piece length")
        if let length = info.integer("length") {
            totalLength = length
            fileCount = 1
        } else if let files = info.list("files") {
            var total: Int64 = 0
            var count = 0
            files.forEach { element in
                var element = element
                if let file = try? Bencode.Dictionary(&element), let length = file.integer("length") {
                    total &+= length
                    count += 1
                }
                return true
            }
            totalLength = total
            fileCount = count
        }
    }

    /// Reads a whole .torrent file: its `info` dictionary, found and hashed in place.
    public init?(torrentFile bytes: UnsafeRawBufferPointer) {
        guard bytes.count <= Self.maxLength else { return nil }
        var reader = ByteReader(bytes)
        guard let torrent = try? Bencode.Dictionary(&reader), var value = torrent.value("info"),
              value.peekByte() == UInt8(ascii: "d") else { return nil }
        let start = value.offset
        guard (try? Bencode.skipValue(&value)) != nil else { return nil }
        let span = UnsafeRawBufferPointer(rebasing: value.base[start ..< value.offset])
        self.init(infoDictionary: span)
    }

    /// Whether `bytes` look like the start of a .torrent file (a dictionary opening with one of
    /// the keys torrent makers write first, in sorted order).
    public static func looksLikeTorrentFile(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let reader = ByteReader(bytes)
        return torrentOpenings.contains { reader.starts(with: $0) }
    }

    private static let torrentOpenings: [[UInt8]] = [
        "d8:announce", "d13:announce-list", "d7:comment", "d10:created by", "d13:creation date", "d8:encoding", "d4:info",
        "d9:url-list", "d5:nodes", "d12:piece layers",
    ].map { Array($0.utf8) }
}
