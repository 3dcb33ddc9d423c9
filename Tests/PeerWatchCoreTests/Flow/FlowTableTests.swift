import Testing
@testable import PeerWatchCore

@Suite struct FlowTableTests {
    func key(_ n: UInt16, v6: Bool = false) -> FlowKey {
        let a = v6 ? IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 1) : IPAddress(ipv4: 0xC000_0201)
        let b = v6 ? IPAddress(ipv6High: 0x2001_0DB8_0000_0000, low: 2) : IPAddress(ipv4: 0xC000_0202)
        return FlowKey(Endpoint(address: a, port: n), Endpoint(address: b, port: 80), transport: .tcp)
    }

    @discardableResult
    func insert(_ table: inout FlowTable, _ key: FlowKey, at seconds: Int64, hash: UInt64? = nil) -> Int {
        table.insert(key, hash: hash ?? key.fastHash, start: seconds * 1_000_000)
    }

    func find(_ table: FlowTable, _ key: FlowKey, hash: UInt64? = nil) -> Int? {
        table.find(key, hash: hash ?? key.fastHash)
    }

    @Test func keyIsTheSameForBothDirections() {
        let a = Endpoint(address: IPAddress(ipv4: 0xCB00_7105), port: 6_881)
        let b = Endpoint(address: IPAddress(ipv4: 0xC633_6417), port: 51_413)
        #expect(FlowKey(a, b, transport: .tcp) == FlowKey(b, a, transport: .tcp))
        #expect(FlowKey(a, b, transport: .tcp).stableHash == FlowKey(b, a, transport: .tcp).stableHash)
        #expect(FlowKey(a, b, transport: .tcp).fastHash(seed: 7) == FlowKey(b, a, transport: .tcp).fastHash(seed: 7))
        #expect(FlowKey(a, b, transport: .tcp) != FlowKey(a, b, transport: .udp))
        #expect(FlowKey(a, b, transport: .tcp).low == b)
        #expect(FlowKey(a, b, transport: .tcp).high == a)
    }

    @Test func theSeedChangesTheHashButNotTheStableHash() {
        let k = key(1)
        #expect(k.fastHash(seed: 1) != k.fastHash(seed: 2))
        #expect(k.fastHash(seed: 0) == k.fastHash)
        #expect(k.stableHash == key(1).stableHash)
    }

    @Test func aSlotIsAtMost128Bytes() {
        #expect(MemoryLayout<FlowSlot>.stride <= 128)
        #expect(MemoryLayout<FlowKey>.stride == 40)
    }

    @Test func evictsLeastRecentlySeenFirst() {
        var table = FlowTable(capacity: 3)
        let s1 = insert(&table, key(1), at: 1)
        insert(&table, key(2), at: 2)
        insert(&table, key(3), at: 3)
        #expect(table.isFull)
        table.touch(s1, now: 4_000_000)  // 1 is now the most recent; 2 is the oldest
        let oldest = table.oldestSlot
        #expect(oldest.map { table[$0].key } == key(2))
        if let oldest { table.remove(oldest) }
        #expect(table.count == 2)
        insert(&table, key(4), at: 5)
        #expect(find(table, key(4)) != nil)
        #expect(find(table, key(2)) == nil)
        #expect(find(table, key(1)) == s1)
    }

    @Test func theExpiryListRunsFromOldestToNewest() {
        var table = FlowTable(capacity: 10)
        let slots = (1 ... 4).map { insert(&table, key(UInt16($0)), at: Int64($0)) }
        table.touch(slots[0], now: 9_000_000)
        var order: [FlowKey] = []
        var position = table.oldestSlot
        while let slot = position, order.count < 10 {
            order.append(table[slot].key)
            position = table.newer(than: slot)
        }
        #expect(order == [key(2), key(3), key(4), key(1)])
        #expect(table[slots[0]].lastSeen == 9_000_000)
        #expect(table[slots[0]].start == 1_000_000)
    }

    /// Keys that all hash alike form one run of the index; removing any of them must leave the
    /// others findable (backward-shift deletion), and the slots are reused.
    @Test func removalKeepsACollidingRunFindable() {
        var table = FlowTable(capacity: 64)
        let keys = (1 ... 20).map { key(UInt16($0), v6: $0 % 2 == 0) }
        var slots: [Int] = []
        for k in keys { slots.append(insert(&table, k, at: 1, hash: 42)) }
        for k in keys { #expect(find(table, k, hash: 42) != nil) }
        var removed: Set<Int> = []
        for victim in [0, 7, 19, 3] {
            table.remove(slots[victim])
            removed.insert(victim)
            #expect(find(table, keys[victim], hash: 42) == nil)
            for (n, k) in keys.enumerated() where !removed.contains(n) {
                #expect(find(table, k, hash: 42) == slots[n], "key \(n) after removing \(victim)")
            }
        }
        #expect(table.count == 16)
        let again = insert(&table, key(99), at: 2, hash: 42)
        #expect([slots[0], slots[7], slots[19], slots[3]].contains(again))
        #expect(find(table, key(99), hash: 42) == again)
    }

    /// Random inserts and removals against a dictionary, with a hash that wraps the index.
    @Test func agreesWithADictionary() {
        var table = FlowTable(capacity: 300)
        var reference: [FlowKey: Int] = [:]
        var generator = SplitMix(seed: 5)
        for step in 0 ..< 20_000 {
            let k = key(UInt16(generator.next() % 400))
            if let slot = reference[k] {
                if step % 2 == 0 {
                    table.remove(slot)
                    reference[k] = nil
                }
            } else if !table.isFull {
                reference[k] = insert(&table, k, at: 0, hash: Self.hash(k))
            }
        }
        #expect(table.count == reference.count)
        for n in 0 ..< 400 {
            let k = key(UInt16(n))
            #expect(find(table, k, hash: Self.hash(k)) == reference[k])
        }
    }

    /// A deliberately poor hash: a quarter of all keys share the top of the index.
    static func hash(_ key: FlowKey) -> UInt64 {
        key.lowPort % 4 == 0 ? UInt64.max : key.fastHash
    }
}

/// A small deterministic generator for tests.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
