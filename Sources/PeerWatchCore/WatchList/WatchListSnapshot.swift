/// One source file of a watch list, as loaded.
public struct WatchListSource: Sendable, Hashable {
    /// The list's name, as alerts report it (`watchlist.list`).
    public var name: String
    /// Where it was loaded from.
    public var path: String
    /// Lowercase hex SHA-256 of the file's bytes (`watchlist.list_sha256`).
    public var sha256: String
    /// The format it was read as (`native`, `csv`, `vics`, ...).
    public var format: String
    /// The key that verified its signature, if lists are signed.
    public var signer: String?

    public init(name: String, path: String, sha256: String, format: String = "native", signer: String? = nil) {
        self.name = name
        self.path = path
        self.sha256 = sha256
        self.format = format
        self.signer = signer
    }
}

/// What the watch list says about one identifier.
public struct WatchListEntry: Sendable, Hashable {
    /// The listed identifier.
    public var id: ContentID
    /// Index of the entry's source in `WatchListSnapshot.sources`.
    public var sourceIndex: Int
    /// A free-text label (`watchlist.label`).
    public var label: String?
    /// A category, such as a Project VIC category (`watchlist.category`).
    public var category: String?
    /// The line of the source file the entry came from (1-based; 0 when the format has none).
    public var line: Int

    public init(id: ContentID, sourceIndex: Int, label: String?, category: String?, line: Int) {
        self.id = id
        self.sourceIndex = sourceIndex
        self.label = label
        self.category = category
        self.line = line
    }
}

/// A match against the watch list: the entry and the list it came from.
public struct WatchListHit: Sendable, Hashable {
    /// The matching entry.
    public var entry: WatchListEntry
    /// The list that holds it.
    public var source: WatchListSource
}

/// An immutable, shareable watch list: per kind, the digests sorted in one flat array with
/// their metadata in parallel compact arrays (list, line, interned label and category). A 20-byte
/// entry costs 32 bytes: 20 of digest, 12 of metadata. A reload builds a new snapshot beside the
/// old and swaps the reference, so a packet is matched against exactly one whole list.
public final class WatchListSnapshot: Sendable {
    /// The files the snapshot was built from.
    public let sources: [WatchListSource]
    /// Interned labels and categories.
    let labels: [String]
    let categories: [String]
    let tables: [DigestTable]
    /// v2 infohashes by their first 20 bytes: the form BEP 52 puts in handshakes, the DHT and
    /// tracker requests.
    let truncatedV2: DigestTable
    /// Entries dropped because an earlier list (or line) had the same identifier.
    public let duplicates: Int
    /// Entries per source and kind, as loaded (before duplicates were dropped).
    public let loadedCounts: [[ContentID.Kind: Int]]

    /// A snapshot with no entries.
    public static let empty = WatchListBuilder().build()

    init(sources: [WatchListSource], labels: [String], categories: [String], tables: [DigestTable], truncatedV2: DigestTable,
         duplicates: Int, loadedCounts: [[ContentID.Kind: Int]]) {
        self.sources = sources
        self.labels = labels
        self.categories = categories
        self.tables = tables
        self.truncatedV2 = truncatedV2
        self.duplicates = duplicates
        self.loadedCounts = loadedCounts
    }

    /// Builds a snapshot from whole entries (tests and small lists).
    public convenience init(sources: [WatchListSource], entries: [WatchListEntry]) {
        var builder = WatchListBuilder()
        for source in sources { _ = builder.addSource(source) }
        for entry in entries {
            entry.id.withDigestBytes { digest in
                builder.add(kind: entry.id.kind, digest: digest, sourceIndex: entry.sourceIndex, line: entry.line,
                            label: entry.label, category: entry.category)
            }
        }
        let built = builder.build()
        self.init(sources: built.sources, labels: built.labels, categories: built.categories, tables: built.tables,
                  truncatedV2: built.truncatedV2, duplicates: built.duplicates, loadedCounts: built.loadedCounts)
    }

    /// How many distinct entries the snapshot holds.
    public var count: Int { tables.reduce(0) { $0 + $1.count } }

    /// How many distinct entries of each kind.
    public var countsByKind: [ContentID.Kind: Int] {
        var counts: [ContentID.Kind: Int] = [:]
        for table in tables where table.count > 0 { counts[table.kind] = table.count }
        return counts
    }

    /// Bytes the index and its metadata take (not counting label text).
    public var indexBytes: Int { tables.reduce(truncatedV2.bytes) { $0 + $1.bytes } }

    /// The entry for `id`, or `nil`. A v1-sized infohash also matches a listed v2 infohash
    /// whose first 20 bytes it is (the hit then names the full v2 entry). Allocates nothing
    /// unless it finds something.
    public func lookup(_ id: ContentID) -> WatchListHit? {
        let table = tables[Int(id.kind.rawValue)]
        if let position = id.withDigestBytes({ table.find($0) }) {
            return hit(table, position)
        }
        if id.kind == .btih, let position = id.withDigestBytes({ truncatedV2.find($0) }) {
            return hit(truncatedV2, position)
        }
        return nil
    }

    private func hit(_ table: DigestTable, _ position: Int) -> WatchListHit {
        let attributes = table.attributeSets[Int(table.attributes[position])]
        let label = table.labels[position]
        let entry = WatchListEntry(
            id: table.identifier(at: position), sourceIndex: Int(attributes.source),
            label: label == .max ? nil : labels[Int(label)],
            category: attributes.category == .max ? nil : categories[Int(attributes.category)],
            line: Int(table.lines[position]))
        return WatchListHit(entry: entry, source: sources[Int(attributes.source)])
    }

    /// Every entry of one kind, in digest order (for tools; allocates).
    public func entries(of kind: ContentID.Kind) -> [WatchListEntry] {
        let table = tables[Int(kind.rawValue)]
        return (0 ..< table.count).map { hit(table, $0).entry }
    }
}

/// The metadata of one entry, as the builder collects it. Tables keep it as three parallel
/// arrays (10 bytes an entry, no padding): line, label and an interned (list, category) pair.
struct EntryMetadata: Sendable {
    var line: UInt32
    var label: UInt32      // index into labels, .max for none
    var source: UInt16
    var category: UInt16   // index into categories, .max for none
}

/// A list and a category, interned: most lists carry a handful of categories.
struct EntryAttributes: Sendable, Hashable {
    var source: UInt16
    var category: UInt16
}

/// Sorted fixed-width digests of one kind, with a table of where each 16-bit prefix starts so
/// that a lookup binary-searches only its bucket, and the entries' metadata in parallel arrays.
struct DigestTable: Sendable {
    let kind: ContentID.Kind
    /// The digest width stored (20 for truncated v2).
    let width: Int
    /// The kind reported for a hit (the full v2 for the truncated table).
    let reportedKind: ContentID.Kind
    let keys: [UInt8]
    let lines: [UInt32]
    let labels: [UInt32]
    let attributes: [UInt16]
    let attributeSets: [EntryAttributes]
    /// For truncated v2: the full 32-byte digests, parallel to `keys`.
    let fullDigests: [UInt8]
    let buckets: [UInt32]   // 65,537 offsets, or empty for an empty table

    var count: Int { lines.count }
    var bytes: Int { keys.count + lines.count * 4 + labels.count * 4 + attributes.count * 2 + fullDigests.count + buckets.count * 4 }

    init(kind: ContentID.Kind, width: Int, reportedKind: ContentID.Kind, keys: [UInt8], lines: [UInt32], labels: [UInt32],
         attributes: [UInt16], attributeSets: [EntryAttributes], fullDigests: [UInt8]) {
        self.kind = kind
        self.width = width
        self.reportedKind = reportedKind
        self.keys = keys
        self.lines = lines
        self.labels = labels
        self.attributes = attributes
        self.attributeSets = attributeSets
        self.fullDigests = fullDigests
        let count = lines.count
        if count == 0 {
            buckets = []
        } else {
            var starts = [UInt32](repeating: 0, count: 65_537)
            keys.withUnsafeBytes { raw in
                var position = 0
                for bucket in 0 ... 65_536 {
                    while position < count, Int(raw[position * width]) << 8 | Int(raw[position * width + 1]) < bucket {
                        position += 1
                    }
                    starts[bucket] = UInt32(position)
                }
            }
            buckets = starts
        }
    }

    static func empty(_ kind: ContentID.Kind) -> DigestTable {
        DigestTable(kind: kind, width: kind.digestLength, reportedKind: kind, keys: [], lines: [], labels: [], attributes: [], attributeSets: [], fullDigests: [])
    }

    func identifier(at position: Int) -> ContentID {
        if reportedKind != kind || width != reportedKind.digestLength {
            let length = reportedKind.digestLength
            return fullDigests.withUnsafeBytes { raw in
                ContentID(kind: reportedKind, bytes: UnsafeRawBufferPointer(rebasing: raw[(position * length) ..< ((position + 1) * length)]))
            } ?? ContentID(kind: .btih, words: (0, 0, 0, 0))
        }
        return keys.withUnsafeBytes { raw in
            ContentID(kind: kind, bytes: UnsafeRawBufferPointer(rebasing: raw[(position * width) ..< ((position + 1) * width)]))
        } ?? ContentID(kind: .btih, words: (0, 0, 0, 0))
    }

    func find(_ digest: UnsafeRawBufferPointer) -> Int? {
        guard digest.count == width, width >= 8, !buckets.isEmpty else { return nil }
        let bucket = Int(digest[0]) << 8 | Int(digest[1])
        var low = Int(buckets[bucket])
        var high = Int(buckets[bucket + 1])
        let wanted = UInt64(bigEndian: digest.loadUnaligned(as: UInt64.self))
        return keys.withUnsafeBytes { raw -> Int? in
            while low < high {
                let middle = (low &+ high) / 2
                let base = middle &* width
                // The first eight bytes as one number settle almost every comparison.
                let candidate = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: base, as: UInt64.self))
                var order = candidate < wanted ? -1 : candidate > wanted ? 1 : 0
                if order == 0 {
                    for index in 8 ..< width where raw[base &+ index] != digest[index] {
                        order = raw[base &+ index] < digest[index] ? -1 : 1
                        break
                    }
                }
                if order == 0 { return middle }
                if order < 0 { low = middle &+ 1 } else { high = middle }
            }
            return nil
        }
    }
}
