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

    @Test func aSlotIsNinetySixBytes() {
        // Two cache lines at most, whatever its place in the array.
        #expect(MemoryLayout<FlowSlot>.stride == 96)
        #expect(MemoryLayout<FlowKey>.stride == 40)
    }

    @Test func aFullTableEvictsTheLeastRecentlySeenOfItsSample() {
        var table = FlowTable(capacity: 3)
        let s1 = insert(&table, key(1), at: 1)
        insert(&table, key(2), at: 2)
        insert(&table, key(3), at: 3)
        #expect(table.isFull)
        table[s1].lastSeen = 4_000_000  // 1 is now the most recent; 2 is the oldest
        let victim = table.evictionCandidate()
        #expect(victim.map { table[$0].key } == key(2))
        if let victim { table.remove(victim) }
        #expect(table.count == 2)
        insert(&table, key(4), at: 5)
        #expect(find(table, key(4)) != nil)
        #expect(find(table, key(2)) == nil)
        #expect(find(table, key(1)) == s1)
    }

    @Test func removedSlotsAreFreeAndReused() {
        var table = FlowTable(capacity: 10)
        let slots = (1 ... 4).map { insert(&table, key(UInt16($0)), at: Int64($0)) }
        table.remove(slots[1])
        #expect(table[slots[1]].phase == .free)
        #expect(table.highWater == 4)
        let again = insert(&table, key(9), at: 9)
        #expect(again == slots[1])
        #expect(table[again].phase == .probing)
        #expect(table[again].start == 9_000_000)
        #expect(table.highWater == 4)
    }

    /// A table filled to its capacity has long runs in its index (and runs that wrap past its
    /// end); removing any entry must leave the others findable (backward-shift deletion).
    @Test func removalKeepsEveryRunFindable() {
        var table = FlowTable(capacity: 20, seed: 3)
        let keys = (1 ... 20).map { key(UInt16($0), v6: $0 % 2 == 0) }
        var slots: [Int] = []
        for k in keys { slots.append(table.insert(k, hash: k.fastHash(seed: 3), start: 0)) }
        var removed: Set<Int> = []
        for victim in [0, 7, 19, 3, 11, 12] {
            table.remove(slots[victim])
            removed.insert(victim)
            #expect(table.find(keys[victim], hash: keys[victim].fastHash(seed: 3)) == nil)
            for (n, k) in keys.enumerated() where !removed.contains(n) {
                #expect(table.find(k, hash: k.fastHash(seed: 3)) == slots[n], "key \(n) after removing \(victim)")
            }
        }
        #expect(table.count == 14)
        let late = key(99)
        let again = table.insert(late, hash: late.fastHash(seed: 3), start: 0)
        #expect(removed.map { slots[$0] }.contains(again))
        #expect(table.find(late, hash: late.fastHash(seed: 3)) == again)
    }

    /// Random inserts and removals against a dictionary, in a small table kept near full.
    @Test func agreesWithADictionary() {
        var table = FlowTable(capacity: 12, seed: 11)
        var reference: [FlowKey: Int] = [:]
        var generator = SplitMix(seed: 5)
        for step in 0 ..< 20_000 {
            let k = key(UInt16(generator.next() % 40), v6: generator.next() % 3 == 0)
            if let slot = reference[k] {
                if step % 2 == 0 {
                    table.remove(slot)
                    reference[k] = nil
                }
            } else if !table.isFull {
                reference[k] = table.insert(k, hash: k.fastHash(seed: 11), start: 0)
            }
        }
        #expect(table.count == reference.count)
        for n in 0 ..< 40 {
            for v6 in [false, true] {
                let k = key(UInt16(n), v6: v6)
                #expect(table.find(k, hash: k.fastHash(seed: 11)) == reference[k])
            }
        }
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
