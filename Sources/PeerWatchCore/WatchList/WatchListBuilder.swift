/// Collects watch-list entries from any number of sources and builds the immutable snapshot.
///
/// Adding an entry copies its digest into a flat per-kind array and interns its label and
/// category; nothing else is allocated per entry, so ten million entries load in seconds.
/// Building sorts each kind once; among entries with the same identifier the first added wins
/// (earlier lists, then earlier lines), and the others are counted as duplicates.
public struct WatchListBuilder {
    private var sources: [WatchListSource] = []
    private var labels: [String] = []
    private var labelIndex: [String: UInt32] = [:]
    private var categories: [String] = []
    private var categoryIndex: [String: UInt16] = [:]
    private var keys: [[UInt8]] = Array(repeating: [], count: ContentID.Kind.allCases.count)
    private var metadata: [[EntryMetadata]] = Array(repeating: [], count: ContentID.Kind.allCases.count)
    private var loadedCounts: [[ContentID.Kind: Int]] = []
    private var lastLabel: (String, UInt32)?

    /// The most lists one snapshot holds (the metadata keeps a 16-bit list index).
    public static let maxSources = Int(UInt16.max)
    /// The most distinct categories (16-bit index).
    public static let maxCategories = Int(UInt16.max) - 1

    public init() {}

    /// How many entries were added so far (duplicates included).
    public var count: Int { metadata.reduce(0) { $0 + $1.count } }

    /// Registers a list and returns its index, or `nil` when there are too many lists.
    public mutating func addSource(_ source: WatchListSource) -> Int? {
        guard sources.count < Self.maxSources else { return nil }
        sources.append(source)
        loadedCounts.append([:])
        return sources.count - 1
    }

    /// Replaces what is known of list `index` (its hash or signer, once read).
    public mutating func updateSource(_ index: Int, _ source: WatchListSource) {
        guard sources.indices.contains(index) else { return }
        sources[index] = source
    }

    /// A builder with the same lists and no entries, to collect part of a list elsewhere and
    /// `merge` it back.
    public func emptyCopy() -> WatchListBuilder {
        var copy = WatchListBuilder()
        copy.sources = sources
        copy.loadedCounts = sources.map { _ in [:] }
        return copy
    }

    /// Reserves room for `count` more entries of `kind`.
    public mutating func reserve(_ count: Int, of kind: ContentID.Kind) {
        let k = Int(kind.rawValue)
        keys[k].reserveCapacity(keys[k].count + count * kind.digestLength)
        metadata[k].reserveCapacity(metadata[k].count + count)
    }

    /// Adds one entry; `digest` must be exactly `kind.digestLength` bytes (others are ignored).
    public mutating func add(kind: ContentID.Kind, digest: UnsafeRawBufferPointer, sourceIndex: Int, line: Int, label: String?, category: String?) {
        guard digest.count == kind.digestLength, sources.indices.contains(sourceIndex) else { return }
        let k = Int(kind.rawValue)
        keys[k].append(contentsOf: digest)
        metadata[k].append(EntryMetadata(line: UInt32(clamping: line), label: intern(label: label), source: UInt16(sourceIndex),
                                         category: intern(category: category)))
        loadedCounts[sourceIndex][kind, default: 0] += 1
    }

    private mutating func intern(label: String?) -> UInt32 {
        guard let label, !label.isEmpty else { return .max }
        if let (last, index) = lastLabel, last == label { return index }
        let index: UInt32
        if let known = labelIndex[label] {
            index = known
        } else {
            index = UInt32(labels.count)
            labels.append(label)
            labelIndex[label] = index
        }
        lastLabel = (label, index)
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

    /// Sorts, removes duplicates and returns the snapshot.
    public func build() -> WatchListSnapshot {
        var duplicates = 0
        var tables: [DigestTable] = []
        for kind in ContentID.Kind.allCases {
            let k = Int(kind.rawValue)
            let (table, dropped) = Self.sortedTable(kind: kind, width: kind.digestLength, keys: keys[k], metadata: metadata[k], fullWidth: nil)
            tables.append(table)
            duplicates += dropped
        }
        let v2 = Int(ContentID.Kind.btihV2.rawValue)
        let (truncated, _) = Self.sortedTable(kind: .btihV2, width: 20, keys: keys[v2], metadata: metadata[v2], fullWidth: 32)
        return WatchListSnapshot(sources: sources, labels: labels, categories: categories, tables: tables, truncatedV2: truncated,
                                 duplicates: duplicates, loadedCounts: loadedCounts)
    }

    /// Appends everything `other` collected (made with the same sources, for the same lists):
    /// how a list parsed in pieces on several threads comes back together, in order.
    public mutating func merge(_ other: WatchListBuilder) {
        var labelMap = [UInt32](repeating: .max, count: other.labels.count)
        for (index, label) in other.labels.enumerated() { labelMap[index] = intern(label: label) }
        var categoryMap = [UInt16](repeating: .max, count: other.categories.count)
        for (index, category) in other.categories.enumerated() { categoryMap[index] = intern(category: category) }
        for k in 0 ..< keys.count {
            keys[k].append(contentsOf: other.keys[k])
            metadata[k].reserveCapacity(metadata[k].count + other.metadata[k].count)
            for var entry in other.metadata[k] {
                if entry.label != .max { entry.label = labelMap[Int(entry.label)] }
                if entry.category != .max { entry.category = categoryMap[Int(entry.category)] }
                metadata[k].append(entry)
            }
        }
        for (index, counts) in other.loadedCounts.enumerated() where index < loadedCounts.count {
            for (kind, count) in counts { loadedCounts[index][kind, default: 0] += count }
        }
    }

    /// Orders `count` entries by the first four bytes of their digests, stably (load order
    /// kept among equal prefixes): an LSD radix sort, 16 bits a pass. Digests are hashes, so
    /// equal 32-bit prefixes are rare; the caller settles them by the remaining bytes.
    static func radixOrder(keys raw: UnsafeRawBufferPointer, stride: Int, count: Int) -> [UInt64] {
        var items = [UInt64](unsafeUninitializedCapacity: count) { buffer, initialized in
            for index in 0 ..< count {
                let prefix = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: index &* stride, as: UInt32.self))
                buffer[index] = UInt64(prefix) << 32 | UInt64(index)
            }
            initialized = count
        }
        var scratch = [UInt64](repeating: 0, count: count)
        var counts = [Int](repeating: 0, count: 65_536)
        for pass in 0 ..< 2 {
            let shift = UInt64(32 + 16 * pass)
            counts.withUnsafeMutableBufferPointer { counts in
                for index in 0 ..< 65_536 { counts[index] = 0 }
                items.withUnsafeBufferPointer { source in
                    for item in source { counts[Int(truncatingIfNeeded: item >> shift) & 0xFFFF] &+= 1 }
                    var total = 0
                    for index in 0 ..< 65_536 {
                        let bucket = counts[index]
                        counts[index] = total
                        total &+= bucket
                    }
                    scratch.withUnsafeMutableBufferPointer { destination in
                        for item in source {
                            let bucket = Int(truncatingIfNeeded: item >> shift) & 0xFFFF
                            destination[counts[bucket]] = item
                            counts[bucket] &+= 1
                        }
                    }
                }
            }
            swap(&items, &scratch)
        }
        return items
    }

    /// Sorts entries by digest (the first `width` bytes of each `fullWidth`-byte key when given),
    /// keeping load order among equals, and drops all but the first of each digest.
    private static func sortedTable(
        kind: ContentID.Kind, width: Int, keys: [UInt8], metadata: [EntryMetadata], fullWidth: Int?
    ) -> (DigestTable, dropped: Int) {
        let stride = fullWidth ?? width
        let count = metadata.count
        guard count > 0 else { return (DigestTable.empty(kind), 0) }
        return keys.withUnsafeBytes { raw -> (DigestTable, dropped: Int) in
            let order = radixOrder(keys: raw, stride: stride, count: count)
            var positions = [Int](unsafeUninitializedCapacity: count) { buffer, initialized in
                for index in 0 ..< count { buffer[index] = Int(truncatingIfNeeded: order[index] & 0xFFFF_FFFF) }
                initialized = count
            }
            // Equal prefixes (duplicates, or rare collisions): order by the rest, then load order.
            func less(_ a: Int, _ b: Int) -> Bool {
                for byte in 4 ..< width where raw[a &* stride &+ byte] != raw[b &* stride &+ byte] {
                    return raw[a &* stride &+ byte] < raw[b &* stride &+ byte]
                }
                return a < b
            }
            var start = 0
            while start < count {
                var end = start &+ 1
                while end < count, order[end] >> 32 == order[start] >> 32 { end &+= 1 }
                if end &- start > 1 { positions[start ..< end].sort(by: less) }
                start = end
            }
            // Keep the first of each digest; a different prefix (nearly always) settles it
            // without reading the keys.
            var kept = [Int]()
            kept.reserveCapacity(count)
            for slot in 0 ..< count {
                let position = positions[slot]
                if slot > 0, order[slot] >> 32 == order[slot &- 1] >> 32,
                   memcmp(raw, positions[slot &- 1] &* stride, position &* stride, width) { continue }
                kept.append(position)
            }
            let n = kept.count
            var attributeSets: [EntryAttributes] = []
            var attributeIndex: [EntryAttributes: UInt16] = [:]
            let sortedKeys = [UInt8](unsafeUninitializedCapacity: n &* width) { buffer, initialized in
                for (slot, position) in kept.enumerated() {
                    UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[(slot &* width) ..< ((slot &+ 1) &* width)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(position &* stride) ..< (position &* stride &+ width)]))
                }
                initialized = n &* width
            }
            let fullDigests = fullWidth == nil ? [] : [UInt8](unsafeUninitializedCapacity: n &* stride) { buffer, initialized in
                for (slot, position) in kept.enumerated() {
                    UnsafeMutableRawBufferPointer(rebasing: UnsafeMutableRawBufferPointer(buffer)[(slot &* stride) ..< ((slot &+ 1) &* stride)])
                        .copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(position &* stride) ..< ((position &+ 1) &* stride)]))
                }
                initialized = n &* stride
            }
            var lines = [UInt32](), labels = [UInt32](), attributes = [UInt16]()
            lines.reserveCapacity(n)
            labels.reserveCapacity(n)
            attributes.reserveCapacity(n)
            var lastPair = EntryAttributes(source: .max, category: .max)
            var lastIndex: UInt16 = 0
            for position in kept {
                let entry = metadata[position]
                lines.append(entry.line)
                labels.append(entry.label)
                let pair = EntryAttributes(source: entry.source, category: entry.category)
                if pair == lastPair, !attributeSets.isEmpty {
                    attributes.append(lastIndex)
                } else if let known = attributeIndex[pair] {
                    attributes.append(known)
                    lastPair = pair
                    lastIndex = known
                } else {
                    let index = UInt16(min(attributeSets.count, Int(UInt16.max)))
                    attributeSets.append(pair)
                    attributeIndex[pair] = index
                    attributes.append(index)
                    lastPair = pair
                    lastIndex = index
                }
            }
            let table = DigestTable(kind: kind, width: width, reportedKind: kind, keys: sortedKeys, lines: lines, labels: labels,
                                    attributes: attributes, attributeSets: attributeSets, fullDigests: fullDigests)
            return (table, count &- n)
        }
    }

    /// Whether the `width` bytes at two offsets of `raw` are equal.
    private static func memcmp(_ raw: UnsafeRawBufferPointer, _ a: Int, _ b: Int, _ width: Int) -> Bool {
        var index = 0
        while index < width {
            if raw[a &+ index] != raw[b &+ index] { return false }
            index &+= 1
        }
        return true
    }
}
