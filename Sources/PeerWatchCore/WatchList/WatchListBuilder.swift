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
            let (table, dropped) = Self.sortedTable(kind: kind, width: kind.digestLength, reportedKind: kind,
                                                    keys: keys[k], metadata: metadata[k], fullWidth: nil)
            tables.append(table)
            duplicates += dropped
        }
        let v2 = Int(ContentID.Kind.btihV2.rawValue)
        let (truncated, _) = Self.sortedTable(kind: .btihV2, width: 20, reportedKind: .btihV2, keys: keys[v2], metadata: metadata[v2], fullWidth: 32)
        return WatchListSnapshot(sources: sources, labels: labels, categories: categories, tables: tables, truncatedV2: truncated,
                                 duplicates: duplicates, loadedCounts: loadedCounts)
    }

    /// Sorts entries by digest (the first `width` bytes of each `fullWidth`-byte key when given),
    /// keeping load order among equals, and drops all but the first of each digest.
    private static func sortedTable(
        kind: ContentID.Kind, width: Int, reportedKind: ContentID.Kind, keys: [UInt8], metadata: [EntryMetadata], fullWidth: Int?
    ) -> (DigestTable, dropped: Int) {
        let stride = fullWidth ?? width
        let count = metadata.count
        guard count > 0 else {
            return (DigestTable(kind: kind, width: width, reportedKind: reportedKind, keys: [], metadata: [], fullDigests: []), 0)
        }
        // Sort on (first 8 digest bytes, load position); ties on the prefix are settled below.
        var order = [UInt128](repeating: 0, count: count)
        keys.withUnsafeBytes { raw in
            for index in 0 ..< count {
                let prefix = UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: index * stride, as: UInt64.self))
                order[index] = UInt128(prefix) << 64 | UInt128(index)
            }
        }
        order.sort()
        var positions = order.map { Int(truncatingIfNeeded: UInt64(truncatingIfNeeded: $0)) }
        keys.withUnsafeBytes { raw in
            func less(_ a: Int, _ b: Int) -> Bool {
                for byte in 8 ..< width where raw[a * stride + byte] != raw[b * stride + byte] {
                    return raw[a * stride + byte] < raw[b * stride + byte]
                }
                return a < b
            }
            var start = 0
            while start < count {
                var end = start + 1
                while end < count, order[end] >> 64 == order[start] >> 64 { end += 1 }
                if end - start > 1 { positions[start ..< end].sort(by: less) }
                start = end
            }
        }
        var sortedKeys = [UInt8]()
        var sortedMetadata = [EntryMetadata]()
        var fullDigests = [UInt8]()
        sortedKeys.reserveCapacity(count * width)
        sortedMetadata.reserveCapacity(count)
        if fullWidth != nil { fullDigests.reserveCapacity(count * stride) }
        var dropped = 0
        keys.withUnsafeBytes { raw in
            var previous = -1
            for position in positions {
                if previous >= 0 {
                    var same = true
                    for byte in 0 ..< width where raw[previous * stride + byte] != raw[position * stride + byte] {
                        same = false
                        break
                    }
                    if same {
                        dropped += 1
                        continue
                    }
                }
                sortedKeys.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[(position * stride) ..< (position * stride + width)]))
                if fullWidth != nil {
                    fullDigests.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[(position * stride) ..< ((position + 1) * stride)]))
                }
                sortedMetadata.append(metadata[position])
                previous = position
            }
        }
        return (DigestTable(kind: kind, width: width, reportedKind: reportedKind, keys: sortedKeys, metadata: sortedMetadata,
                            fullDigests: fullDigests), dropped)
    }
}
