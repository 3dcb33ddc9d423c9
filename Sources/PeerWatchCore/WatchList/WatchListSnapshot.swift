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
/// their metadata in parallel compact arrays (line, interned label, interned list-and-category).
/// A 20-byte entry costs 30 bytes: 20 of digest, 10 of metadata, plus its label's text once. A reload builds a new snapshot beside the
/// old and swaps the reference, so a packet is matched against exactly one whole list.
public final class WatchListSnapshot: Sendable {
    /// The files the snapshot was built from.
    public let sources: [WatchListSource]
    /// Interned labels and categories.
    let labels: LabelStore
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

    init(sources: [WatchListSource], labels: LabelStore, categories: [String], tables: [DigestTable], truncatedV2: DigestTable,
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
        let built = (consume builder).build()
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

    /// Bytes the interned label text takes.
    public var labelBytes: Int { labels.footprint }

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
        let attributes = table.attributeSets[Int(table.attributes(at: position))]
        let entry = WatchListEntry(
            id: table.identifier(at: position), sourceIndex: Int(attributes.source),
            label: labels[table.label(at: position)],
            category: attributes.category == .max ? nil : categories[Int(attributes.category)],
            line: Int(table.line(at: position)))
        return WatchListHit(entry: entry, source: sources[Int(attributes.source)])
    }

    /// Every entry of one kind, in digest order (for tools; allocates).
    public func entries(of kind: ContentID.Kind) -> [WatchListEntry] {
        let table = tables[Int(kind.rawValue)]
        return (0 ..< table.count).map { hit(table, $0).entry }
    }
}

/// A list and a category, interned: most lists carry a handful of categories.
struct EntryAttributes: Sendable, Hashable {
    var source: UInt16
    var category: UInt16
}

/// Sorted fixed-size records of one kind, with a table of where each 16-bit prefix starts so that
/// a lookup binary-searches only its bucket. A record is the digest and its metadata side by
/// side (`Layout`): the builder's own array, sorted in place, is the finished table.
struct DigestTable: Sendable {
    /// Where each field sits in a record.
    ///
    /// ```
    /// digest (width) | line (4, LE) | label (4, LE) | list and category (2, LE) | full digest (fullWidth)
    /// ```
    /// The full digest is there only for truncated v2 infohashes (20 bytes searched, 32 reported).
    struct Layout: Sendable {
        let width: Int
        let fullWidth: Int
        var stride: Int { width + 10 + fullWidth }
        var line: Int { width }
        var label: Int { width + 4 }
        var attributes: Int { width + 8 }
        var full: Int { width + 10 }

        static func appendMetadata(_ records: inout [UInt8], line: UInt32, label: UInt32, attributes: UInt16) {
            withUnsafeBytes(of: line.littleEndian) { records.append(contentsOf: $0) }
            withUnsafeBytes(of: label.littleEndian) { records.append(contentsOf: $0) }
            withUnsafeBytes(of: attributes.littleEndian) { records.append(contentsOf: $0) }
        }
    }

    let kind: ContentID.Kind
    /// The kind reported for a hit (the full v2 for the truncated table).
    let reportedKind: ContentID.Kind
    let layout: Layout
    let records: [UInt8]
    let attributeSets: [EntryAttributes]
    let buckets: [UInt32]   // 65,537 record offsets, or empty for an empty table

    var width: Int { layout.width }
    var count: Int { records.count / layout.stride }
    var bytes: Int { records.count + buckets.count * 4 }

    init(kind: ContentID.Kind, reportedKind: ContentID.Kind, layout: Layout, records: [UInt8], attributeSets: [EntryAttributes]) {
        self.kind = kind
        self.reportedKind = reportedKind
        self.layout = layout
        self.records = records
        self.attributeSets = attributeSets
        let count = records.count / layout.stride
        if count == 0 {
            buckets = []
        } else {
            var starts = [UInt32](repeating: 0, count: 65_537)
            records.withUnsafeBytes { raw in
                var position = 0
                for bucket in 0 ... 65_536 {
                    while position < count, Int(raw[position * layout.stride]) << 8 | Int(raw[position * layout.stride + 1]) < bucket {
                        position += 1
                    }
                    starts[bucket] = UInt32(position)
                }
            }
            buckets = starts
        }
    }

    static func empty(_ kind: ContentID.Kind) -> DigestTable {
        DigestTable(kind: kind, reportedKind: kind, layout: Layout(width: kind.digestLength, fullWidth: 0), records: [], attributeSets: [])
    }

    func line(at position: Int) -> UInt32 { field(at: position, offset: layout.line, as: UInt32.self) }
    func label(at position: Int) -> UInt32 { field(at: position, offset: layout.label, as: UInt32.self) }
    func attributes(at position: Int) -> UInt16 { field(at: position, offset: layout.attributes, as: UInt16.self) }

    private func field<T: FixedWidthInteger>(at position: Int, offset: Int, as: T.Type) -> T {
        records.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: position * layout.stride + offset, as: T.self)) }
    }

    func identifier(at position: Int) -> ContentID {
        let (offset, length) = layout.fullWidth > 0 ? (layout.full, layout.fullWidth) : (0, layout.width)
        return records.withUnsafeBytes { raw in
            let base = position * layout.stride + offset
            return ContentID(kind: reportedKind, bytes: UnsafeRawBufferPointer(rebasing: raw[base ..< base + length]))
        } ?? ContentID(kind: .btih, words: (0, 0, 0, 0))
    }

    func find(_ digest: UnsafeRawBufferPointer) -> Int? {
        let width = layout.width, stride = layout.stride
        guard digest.count == width, width >= 8, !buckets.isEmpty else { return nil }
        let bucket = Int(digest[0]) << 8 | Int(digest[1])
        var low = Int(buckets[bucket])
        var high = Int(buckets[bucket + 1])
        let wanted = UInt64(bigEndian: digest.loadUnaligned(as: UInt64.self))
        return records.withUnsafeBytes { raw -> Int? in
            while low < high {
                let middle = (low &+ high) / 2
                let base = middle &* stride
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

    // MARK: - Sorting in place

    /// Sorts `records` by digest, equal digests in load order (earlier list, then earlier
    /// line), and keeps only the first of each digest, in place.
    ///
    /// An American flag sort on the first two bytes moves each record straight to its bucket
    /// (no second array, no permutation); each bucket, a few hundred records even for tens of
    /// millions, is then sorted on its own in a small scratch buffer. Digests are hashes, so
    /// the buckets are even.
    static func sortAndDeduplicate(_ records: inout [UInt8], layout: Layout, attributeSets: [EntryAttributes]) {
        let stride = layout.stride
        let count = records.count / stride
        guard count > 1 else { return }
        records.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            func bucket(_ index: Int) -> Int { Int(raw[index &* stride]) << 8 | Int(raw[index &* stride &+ 1]) }
            var starts = [Int](repeating: 0, count: 65_537)
            for index in 0 ..< count { starts[bucket(index) &+ 1] &+= 1 }
            for index in 1 ... 65_536 { starts[index] &+= starts[index &- 1] }
            var next = Array(starts[0 ..< 65_536])
            let held = UnsafeMutableRawPointer.allocate(byteCount: stride, alignment: 8)
            let spare = UnsafeMutableRawPointer.allocate(byteCount: stride, alignment: 8)
            defer {
                held.deallocate()
                spare.deallocate()
            }
            for target in 0 ..< 65_536 {
                let end = starts[target &+ 1]
                while next[target] < end {
                    let position = next[target]
                    var home = bucket(position)
                    if home == target {
                        next[target] &+= 1
                        continue
                    }
                    // Carry the record to its bucket, and the one found there onwards, until a
                    // record belongs here.
                    held.copyMemory(from: base + position &* stride, byteCount: stride)
                    while home != target {
                        let slot = next[home]
                        next[home] &+= 1
                        let destination = base + slot &* stride
                        // Swap the carried record with the one in its slot.
                        spare.copyMemory(from: destination, byteCount: stride)
                        destination.copyMemory(from: held, byteCount: stride)
                        held.copyMemory(from: spare, byteCount: stride)
                        home = Int(held.load(as: UInt8.self)) << 8 | Int(held.load(fromByteOffset: 1, as: UInt8.self))
                    }
                    (base + position &* stride).copyMemory(from: held, byteCount: stride)
                    next[target] &+= 1
                }
            }
            // Each bucket on its own: an index sort, then the records rewritten in order.
            var order: [Int32] = []
            var scratch = [UInt8]()
            func less(_ a: Int, _ b: Int) -> Bool {
                let x = a &* stride, y = b &* stride
                // Bytes 2 to 9 as one number settle nearly every comparison; then the rest.
                let headA = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: x &+ 2, as: UInt64.self))
                let headB = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: y &+ 2, as: UInt64.self))
                if headA != headB { return headA < headB }
                for offset in 10 ..< layout.width where raw[x &+ offset] != raw[y &+ offset] { return raw[x &+ offset] < raw[y &+ offset] }
                let sourceA = attributeSets.isEmpty ? 0 : attributeSets[Int(UInt16(raw[x &+ layout.attributes]) | UInt16(raw[x &+ layout.attributes &+ 1]) << 8)].source
                let sourceB = attributeSets.isEmpty ? 0 : attributeSets[Int(UInt16(raw[y &+ layout.attributes]) | UInt16(raw[y &+ layout.attributes &+ 1]) << 8)].source
                if sourceA != sourceB { return sourceA < sourceB }
                let lineA = raw.loadUnaligned(fromByteOffset: x &+ layout.line, as: UInt32.self)
                let lineB = raw.loadUnaligned(fromByteOffset: y &+ layout.line, as: UInt32.self)
                if lineA != lineB { return UInt32(littleEndian: lineA) < UInt32(littleEndian: lineB) }
                return a < b
            }
            for target in 0 ..< 65_536 {
                let first = starts[target], end = starts[target &+ 1]
                let size = end &- first
                guard size > 1 else { continue }
                order.removeAll(keepingCapacity: true)
                for index in first ..< end { order.append(Int32(truncatingIfNeeded: index)) }
                order.sort { less(Int($0), Int($1)) }
                scratch.removeAll(keepingCapacity: true)
                for index in order {
                    scratch.append(contentsOf: UnsafeRawBufferPointer(start: base + Int(index) &* stride, count: stride))
                }
                scratch.withUnsafeBytes { sorted in
                    if let source = sorted.baseAddress { (base + first &* stride).copyMemory(from: source, byteCount: size &* stride) }
                }
            }
        }
        // Keep the first of each run of equal digests, moving the rest down.
        var kept = 1
        records.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            for index in 1 ..< count {
                let previous = (kept &- 1) &* stride, here = index &* stride
                var equal = raw.loadUnaligned(fromByteOffset: previous, as: UInt64.self) == raw.loadUnaligned(fromByteOffset: here, as: UInt64.self)
                if equal {
                    for offset in 8 ..< layout.width where raw[previous &+ offset] != raw[here &+ offset] {
                        equal = false
                        break
                    }
                }
                if equal { continue }
                if kept != index { (base + kept &* stride).copyMemory(from: base + here, byteCount: stride) }
                kept &+= 1
            }
        }
        records.removeLast((count - kept) * stride)
    }
}
