/// One source file of a watch list, as loaded.
public struct WatchListSource: Sendable, Hashable {
    /// The list's name, as alerts report it (`watchlist.list`).
    public var name: String
    /// Where it was loaded from.
    public var path: String
    /// Lowercase hex SHA-256 of the file's bytes (`watchlist.list_sha256`).
    public var sha256: String

    public init(name: String, path: String, sha256: String) {
        self.name = name
        self.path = path
        self.sha256 = sha256
    }
}

/// What the watch list says about one identifier; kept apart from the digest index.
public struct WatchListEntry: Sendable, Hashable {
    /// The listed identifier.
    public var id: ContentID
    /// Index of the entry's source in `WatchListSnapshot.sources`.
    public var sourceIndex: Int
    /// A free-text label (`watchlist.label`).
    public var label: String?
    /// A category, such as a Project VIC category (`watchlist.category`).
    public var category: String?
    /// The line of the source file the entry came from (1-based).
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

/// An immutable, shareable watch list: one sorted digest index per kind, with the entries'
/// metadata kept apart. A reload builds a new snapshot beside the old and swaps the reference,
/// so a packet is matched against exactly one whole list.
public final class WatchListSnapshot: Sendable {
    /// The files the snapshot was built from.
    public let sources: [WatchListSource]
    /// Every entry, in load order (the index points into this).
    public let entries: [WatchListEntry]
    private let tables: [DigestTable]
    /// v2 infohashes by their first 20 bytes: the form BEP 52 puts in handshakes, the DHT and
    /// tracker requests.
    private let truncatedV2: DigestTable

    /// A snapshot with no entries.
    public static let empty = WatchListSnapshot(sources: [], entries: [])

    /// Builds a snapshot; duplicate identifiers keep the first entry loaded.
    public init(sources: [WatchListSource], entries: [WatchListEntry]) {
        self.sources = sources
        self.entries = entries
        tables = ContentID.Kind.allCases.map { kind in
            DigestTable(kind: kind, entries: entries)
        }
        truncatedV2 = DigestTable(truncatedV2From: entries)
    }

    /// How many entries the snapshot holds.
    public var count: Int { entries.count }

    /// How many entries of each kind.
    public var countsByKind: [ContentID.Kind: Int] {
        var counts: [ContentID.Kind: Int] = [:]
        for table in tables where table.count > 0 { counts[table.kind] = table.count }
        return counts
    }

    /// The entry for `id`, or `nil`. A v1-sized infohash also matches a listed v2 infohash
    /// whose first 20 bytes it is (the hit then names the full v2 entry). Allocates nothing.
    public func lookup(_ id: ContentID) -> WatchListHit? {
        let table = tables[Int(id.kind.rawValue)]
        var position = id.withDigestBytes { table.find($0) }
        if position == nil, id.kind == .btih {
            position = id.withDigestBytes { truncatedV2.find($0) }
        }
        guard let position else { return nil }
        let entry = entries[position]
        return WatchListHit(entry: entry, source: sources[entry.sourceIndex])
    }
}

/// Sorted fixed-width digests of one kind, searched by binary search.
struct DigestTable: Sendable {
    let kind: ContentID.Kind
    private let width: Int
    private let keys: [UInt8]          // count * width bytes, sorted
    private let entryIndex: [UInt32]   // parallel to keys

    init(kind: ContentID.Kind, entries: [WatchListEntry]) {
        var items: [(digest: [UInt8], index: Int)] = []
        for (index, entry) in entries.enumerated() where entry.id.kind == kind {
            items.append((entry.id.digest, index))
        }
        self.init(kind: kind, width: kind.digestLength, items: items)
    }

    /// The first 20 bytes of every v2 infohash.
    init(truncatedV2From entries: [WatchListEntry]) {
        var items: [(digest: [UInt8], index: Int)] = []
        for (index, entry) in entries.enumerated() where entry.id.kind == .btihV2 {
            items.append((Array(entry.id.digest.prefix(20)), index))
        }
        self.init(kind: .btihV2, width: 20, items: items)
    }

    private init(kind: ContentID.Kind, width: Int, items: [(digest: [UInt8], index: Int)]) {
        var items = items
        self.kind = kind
        self.width = width
        // Stable order: by digest, then load order, so the first loaded wins.
        items.sort { $0.digest.lexicographicallyPrecedes($1.digest) || ($0.digest == $1.digest && $0.index < $1.index) }
        var keys = [UInt8]()
        var indexes = [UInt32]()
        keys.reserveCapacity(items.count * width)
        for item in items where indexes.isEmpty || Array(keys.suffix(width)) != item.digest {
            keys.append(contentsOf: item.digest)
            indexes.append(UInt32(item.index))
        }
        self.keys = keys
        entryIndex = indexes
    }

    var count: Int { entryIndex.count }

    func find(_ digest: UnsafeRawBufferPointer) -> Int? {
        guard digest.count == width else { return nil }
        return keys.withUnsafeBytes { raw -> Int? in
            var low = 0
            var high = entryIndex.count
            while low < high {
                let middle = (low + high) / 2
                let candidate = UnsafeRawBufferPointer(rebasing: raw[middle * width ..< (middle + 1) * width])
                let order = compare(candidate, digest)
                if order == 0 { return Int(entryIndex[middle]) }
                if order < 0 { low = middle + 1 } else { high = middle }
            }
            return nil
        }
    }

    private func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        for index in 0 ..< width where a[index] != b[index] {
            return a[index] < b[index] ? -1 : 1
        }
        return 0
    }
}
