/// Collects watch-list entries from any number of sources and builds the immutable snapshot.
///
/// Adding an entry appends one fixed-size record (digest, line, label, list-and-category) to a
/// flat per-kind array and interns its label into one byte arena; nothing else is allocated per
/// entry. Building sorts each kind's records in place (an American flag sort on the first two
/// bytes, then each small bucket on its own) and keeps the first of equal digests (earlier
/// lists, then earlier lines), so the finished index is the builder's own array: peak memory
/// during a build stays close to the index itself (measured by `peerwatch-benchmark watchlist`).
public struct WatchListBuilder {
    private var sources: [WatchListSource] = []
    private var labels = LabelStore.Builder()
    private var categories: [String] = []
    private var categoryIndex: [String: UInt16] = [:]
    /// The first categories' bytes, in index order, for `intern(categoryBytes:)`.
    private var categoryBytesSeen: [[UInt8]] = []
    private var attributeSets: [EntryAttributes] = []
    private var attributeIndex: [EntryAttributes: UInt16] = [:]
    private var columns: [Columns] = ContentID.Kind.allCases.map { Columns(width: $0.digestLength) }
    /// Entries each list loaded, by kind (indexed by `Kind.rawValue`).
    private var loaded: [[Int]] = []
    private var lastAttributes = (EntryAttributes(source: .max, category: .max), UInt16(0))

    /// The most lists one snapshot holds (the metadata keeps a 16-bit list index).
    public static let maxSources = Int(UInt16.max)
    /// The most distinct categories (16-bit index).
    public static let maxCategories = Int(UInt16.max) - 1
    /// The most distinct (list, category) pairs.
    public static let maxAttributeSets = Int(UInt16.max)

    public init() {}

    /// How many entries were added so far (duplicates included).
    public var count: Int { columns.reduce(0) { $0 + $1.count } }

    /// Registers a list and returns its index, or `nil` when there are too many lists.
    public mutating func addSource(_ source: WatchListSource) -> Int? {
        guard sources.count < Self.maxSources else { return nil }
        sources.append(source)
        loaded.append([Int](repeating: 0, count: ContentID.Kind.allCases.count))
        return sources.count - 1
    }

    /// Replaces what is known of list `index` (its hash or signer, once read).
    public mutating func updateSource(_ index: Int, _ source: WatchListSource) {
        guard sources.indices.contains(index) else { return }
        sources[index] = source
    }

    /// Reserves room for `count` more entries of `kind`.
    public mutating func reserve(_ count: Int, of kind: ContentID.Kind) {
        columns[Int(kind.rawValue)].reserve(count)
    }

    /// Adds one entry; `digest` must be exactly `kind.digestLength` bytes (others are ignored).
    public mutating func add(kind: ContentID.Kind, digest: UnsafeRawBufferPointer, sourceIndex: Int, line: Int, label: String?, category: String?) {
        if let label {
            var text = label
            text.withUTF8 { add(kind: kind, digest: digest, sourceIndex: sourceIndex, line: line, label: UnsafeRawBufferPointer($0), category: category) }
        } else {
            add(kind: kind, digest: digest, sourceIndex: sourceIndex, line: line, label: UnsafeRawBufferPointer(start: nil, count: 0), category: category)
        }
    }

    /// Adds one entry whose label is given as UTF-8 bytes (empty: none), as streaming loaders
    /// have it.
    public mutating func add(kind: ContentID.Kind, digest: UnsafeRawBufferPointer, sourceIndex: Int, line: Int, label: UnsafeRawBufferPointer,
                             category: String?) {
        guard digest.count == kind.digestLength, sources.indices.contains(sourceIndex) else { return }
        let attributes = intern(EntryAttributes(source: UInt16(sourceIndex), category: intern(category: category)))
        columns[Int(kind.rawValue)].append(digest: digest, line: UInt32(clamping: line), label: labels.intern(label), attributes: attributes)
        loaded[sourceIndex][Int(kind.rawValue)] &+= 1
    }

    /// Adds one entry whose label and category are given as UTF-8 bytes (empty: none).
    public mutating func add(kind: ContentID.Kind, digest: UnsafeRawBufferPointer, sourceIndex: Int, line: Int, label: UnsafeRawBufferPointer,
                             category: UnsafeRawBufferPointer) {
        guard digest.count == kind.digestLength, sources.indices.contains(sourceIndex) else { return }
        let attributes = intern(EntryAttributes(source: UInt16(sourceIndex), category: intern(categoryBytes: category)))
        columns[Int(kind.rawValue)].append(digest: digest, line: UInt32(clamping: line), label: labels.intern(label), attributes: attributes)
        loaded[sourceIndex][Int(kind.rawValue)] &+= 1
    }

    /// The index of a category given as bytes: lists hold a handful, so a short search of the
    /// ones seen comes first, and a string is made only for a new one.
    private mutating func intern(categoryBytes bytes: UnsafeRawBufferPointer) -> UInt16 {
        guard !bytes.isEmpty else { return .max }
        for (index, known) in categoryBytesSeen.enumerated() where known.count == bytes.count && known.elementsEqual(bytes) {
            return UInt16(index)
        }
        let index = intern(category: String(decoding: bytes, as: UTF8.self))
        if Int(index) == categoryBytesSeen.count, categoryBytesSeen.count < 64 { categoryBytesSeen.append(Array(bytes)) }
        return index
    }

    private mutating func intern(category: String?) -> UInt16 {
        guard let category, !category.isEmpty else { return .max }
        if let known = categoryIndex[category] { return known }
        guard categories.count < Self.maxCategories else { return .max }
        let index = UInt16(categories.count)
        categories.append(category)
        categoryIndex[category] = index
        return index
    }

    private mutating func intern(_ pair: EntryAttributes) -> UInt16 {
        if pair == lastAttributes.0 { return lastAttributes.1 }
        // Lists have few categories: the pairs seen so far, searched before the dictionary.
        if attributeSets.count <= 16, let found = attributeSets.firstIndex(of: pair) {
            lastAttributes = (pair, UInt16(found))
            return UInt16(found)
        }
        let index: UInt16
        if let known = attributeIndex[pair] {
            index = known
        } else {
            index = UInt16(min(attributeSets.count, Self.maxAttributeSets - 1))
            if attributeSets.count < Self.maxAttributeSets {
                attributeSets.append(pair)
                attributeIndex[pair] = index
            }
        }
        lastAttributes = (pair, index)
        return index
    }

    /// Sorts, removes duplicates and returns the snapshot. The builder's arrays become the
    /// snapshot's (consuming: the builder is used up).
    public consuming func build() -> WatchListSnapshot {
        var duplicates = 0
        // v2 infohashes by their first 20 bytes, before the full table is sorted in place.
        let v2 = Int(ContentID.Kind.btihV2.rawValue)
        let truncated = columns[v2].truncatedTable(kind: .btihV2, width: 20, attributeSets: attributeSets)
        var tables: [DigestTable] = []
        tables.reserveCapacity(columns.count)
        for (index, kind) in ContentID.Kind.allCases.enumerated() {
            let (table, dropped) = columns[index].sortedTable(kind: kind, attributeSets: attributeSets)
            tables.append(table)
            duplicates += dropped
        }
        let loadedCounts = loaded.map { counts in
            Dictionary(uniqueKeysWithValues: ContentID.Kind.allCases.compactMap { kind in counts[Int(kind.rawValue)] > 0 ? (kind, counts[Int(kind.rawValue)]) : nil })
        }
        return WatchListSnapshot(sources: sources, labels: labels.finish(), categories: categories, tables: tables, truncatedV2: truncated,
                                 duplicates: duplicates, loadedCounts: loadedCounts)
    }
}

/// One kind's entries as the builder collects them: fixed-size records, each a digest and its
/// metadata side by side (`DigestTable.Layout`), which building sorts in place.
private struct Columns {
    let layout: DigestTable.Layout
    var records: [UInt8] = []

    init(width: Int) { layout = DigestTable.Layout(width: width, fullWidth: 0) }

    var count: Int { records.count / layout.stride }

    mutating func reserve(_ more: Int) {
        records.reserveCapacity(records.count + more * layout.stride)
    }

    mutating func append(digest: UnsafeRawBufferPointer, line: UInt32, label: UInt32, attributes pair: UInt16) {
        records.append(contentsOf: digest)
        DigestTable.Layout.appendMetadata(&records, line: line, label: label, attributes: pair)
    }

    /// Sorts in place, keeps the first of each digest, and hands the records to a table.
    mutating func sortedTable(kind: ContentID.Kind, attributeSets: [EntryAttributes]) -> (DigestTable, dropped: Int) {
        guard count > 0 else { return (DigestTable.empty(kind), 0) }
        let before = count
        var records: [UInt8] = []
        swap(&records, &self.records)
        DigestTable.sortAndDeduplicate(&records, layout: layout, attributeSets: attributeSets)
        let table = DigestTable(kind: kind, reportedKind: kind, layout: layout, records: records, attributeSets: attributeSets)
        return (table, before - table.count)
    }

    /// The table of v2 infohashes by their first `truncated` bytes (BEP 52's truncated form),
    /// each record carrying the full digest too (a copy: v2 lists are small).
    func truncatedTable(kind: ContentID.Kind, width truncated: Int, attributeSets: [EntryAttributes]) -> DigestTable {
        guard count > 0 else { return DigestTable.empty(kind) }
        let layout = DigestTable.Layout(width: truncated, fullWidth: self.layout.width)
        var out: [UInt8] = []
        out.reserveCapacity(count * layout.stride)
        records.withUnsafeBytes { raw in
            for index in 0 ..< count {
                let base = index * self.layout.stride
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[base ..< base + truncated]))
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[(base + self.layout.width) ..< (base + self.layout.stride)]))
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[base ..< base + self.layout.width]))
            }
        }
        DigestTable.sortAndDeduplicate(&out, layout: layout, attributeSets: attributeSets)
        return DigestTable(kind: kind, reportedKind: kind, layout: layout, records: out, attributeSets: attributeSets)
    }
}

/// Labels, interned: every distinct label's UTF-8 bytes once, in one arena, found by index.
/// Lists of millions of unique labels (a media id each) cost their bytes and four more.
struct LabelStore: Sendable {
    /// The labels' bytes, one after another.
    let bytes: [UInt8]
    /// Where each label starts in `bytes`; one more entry than labels, for the end.
    let starts: [UInt32]

    static let empty = LabelStore(bytes: [], starts: [0])

    var count: Int { starts.count - 1 }

    /// Label `index`, or `nil` for none (`UInt32.max`) or out of range.
    subscript(index: UInt32) -> String? {
        guard index != .max, Int(index) < count else { return nil }
        let start = Int(starts[Int(index)]), end = Int(starts[Int(index) + 1])
        return String(decoding: bytes[start ..< end], as: UTF8.self)
    }

    /// Bytes the store takes.
    var footprint: Int { bytes.count + starts.count * 4 }

    /// Interns labels as they come: an open-addressing table of label indexes, keyed by a hash
    /// of the bytes, kept at most half full. Consecutive equal labels (a media record's two
    /// hashes) cost one comparison.
    struct Builder {
        private var bytes: [UInt8] = []
        private var starts: [UInt32] = [0]
        private var table = [UInt32](repeating: .max, count: 1_024)
        private var last: UInt32 = .max

        /// The index of `label`, adding it if new; `UInt32.max` for an empty label.
        mutating func intern(_ label: UnsafeRawBufferPointer) -> UInt32 {
            guard !label.isEmpty, label.count <= Int(UInt32.max) else { return .max }
            if last != .max, equals(last, label) { return last }
            let hash = Self.hash(label)
            let mask = table.count - 1
            var slot = Int(truncatingIfNeeded: hash) & mask
            while table[slot] != .max {
                if equals(table[slot], label) {
                    last = table[slot]
                    return last
                }
                slot = (slot &+ 1) & mask
            }
            guard bytes.count + label.count < Int(UInt32.max), starts.count < Int(UInt32.max) - 1 else { return .max }
            let index = UInt32(starts.count - 1)
            bytes.append(contentsOf: label)
            starts.append(UInt32(bytes.count))
            table[slot] = index
            if (starts.count - 1) * 2 > table.count { grow() }
            last = index
            return index
        }

        private func equals(_ index: UInt32, _ label: UnsafeRawBufferPointer) -> Bool {
            let start = Int(starts[Int(index)]), end = Int(starts[Int(index) + 1])
            guard end - start == label.count else { return false }
            return bytes.withUnsafeBufferPointer { stored in
                for offset in 0 ..< label.count where stored[start &+ offset] != label[offset] { return false }
                return true
            }
        }

        private mutating func grow() {
            var bigger = [UInt32](repeating: .max, count: table.count * 2)
            let mask = bigger.count - 1
            bytes.withUnsafeBytes { raw in
                for index in 0 ..< starts.count - 1 {
                    let start = Int(starts[index]), end = Int(starts[index + 1])
                    var slot = Int(truncatingIfNeeded: Self.hash(UnsafeRawBufferPointer(rebasing: raw[start ..< end]))) & mask
                    while bigger[slot] != .max { slot = (slot &+ 1) & mask }
                    bigger[slot] = UInt32(index)
                }
            }
            table = bigger
        }

        /// FNV-1a, 64-bit: labels are short, and the table only needs spread.
        static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
            var hash: UInt64 = 0xCBF2_9CE4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
            return hash ^ (hash >> 29)
        }

        /// The finished store (the table is dropped).
        consuming func finish() -> LabelStore {
            LabelStore(bytes: bytes, starts: starts)
        }
    }
}
