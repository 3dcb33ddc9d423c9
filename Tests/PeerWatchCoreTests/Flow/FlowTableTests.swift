import Testing
@testable import PeerWatchCore

@Suite struct FlowTableTests {
    func key(_ n: UInt16) -> FlowKey {
        FlowKey(Endpoint(address: IPAddress(ipv4: 0xC000_0201), port: n),
                Endpoint(address: IPAddress(ipv4: 0xC000_0202), port: 80), transport: .tcp)
    }

    func t(_ seconds: Int64) -> Timestamp { Timestamp(seconds: seconds, microseconds: 0) }

    @Test func keyIsTheSameForBothDirections() {
        let a = Endpoint(address: IPAddress(ipv4: 0xCB00_7105), port: 6_881)
        let b = Endpoint(address: IPAddress(ipv4: 0xC633_6417), port: 51_413)
        #expect(FlowKey(a, b, transport: .tcp) == FlowKey(b, a, transport: .tcp))
        #expect(FlowKey(a, b, transport: .tcp).stableHash == FlowKey(b, a, transport: .tcp).stableHash)
        #expect(FlowKey(a, b, transport: .tcp) != FlowKey(a, b, transport: .udp))
        #expect(FlowKey(a, b, transport: .tcp).low == b)
    }

    @Test func evictsLeastRecentlySeenFirst() {
        var table = FlowTable<Int>(capacity: 3, placeholder: 0)
        let s1 = table.insert(key(1), value: 1, now: t(1))
        _ = table.insert(key(2), value: 2, now: t(2))
        _ = table.insert(key(3), value: 3, now: t(3))
        #expect(table.isFull)
        table.touch(s1, now: t(4))  // 1 is now the most recent; 2 is the oldest
        let oldest = table.oldestSlot.flatMap { table.remove($0) }
        #expect(oldest?.key == key(2))
        #expect(oldest?.value == 2)
        #expect(table.count == 2)
        _ = table.insert(key(4), value: 4, now: t(5))
        #expect(table.slot(of: key(4)) != nil)
        #expect(table.slot(of: key(2)) == nil)
    }

    @Test func expiresEachFlowByItsOwnTimeout() {
        var table = FlowTable<Int64>(capacity: 10, placeholder: 0)
        // Values are the flows' timeouts in seconds.
        _ = table.insert(key(1), value: 100, now: t(0))
        _ = table.insert(key(2), value: 10, now: t(1))
        _ = table.insert(key(3), value: 10, now: t(50))
        var expired: [FlowKey] = []
        table.expire(now: t(30), shortestTimeout: 10_000_000, maxVisits: 100, timeout: { $0 * 1_000_000 }, expired: { key, _ in expired.append(key) })
        // Flow 1 (timeout 100 s) stays although it is older; flow 2 goes; flow 3 is too recent.
        #expect(expired == [key(2)])
        #expect(table.count == 2)
        table.expire(now: t(200), shortestTimeout: 10_000_000, maxVisits: 100, timeout: { $0 * 1_000_000 }, expired: { key, _ in expired.append(key) })
        #expect(expired == [key(2), key(1), key(3)])
        #expect(table.count == 0)
    }

    @Test func expiryWalkIsBounded() {
        var table = FlowTable<Int64>(capacity: 100, placeholder: 0)
        for n in 0 ..< 50 { _ = table.insert(key(UInt16(n)), value: 1, now: t(0)) }
        var count = 0
        table.expire(now: t(10), shortestTimeout: 0, maxVisits: 7, timeout: { $0 * 1_000_000 }, expired: { _, _ in count += 1 })
        #expect(count == 7)
        #expect(table.count == 43)
    }

    @Test func slotsAreReusedAndValuesMutateInPlace() {
        var table = FlowTable<[Int]>(capacity: 2, placeholder: [])
        let slot = table.insert(key(1), value: [1], now: t(0))
        table.withValue(at: slot) { value, k in
            value.append(2)
            #expect(k == key(1))
        }
        #expect(table.remove(slot)?.value == [1, 2])
        let again = table.insert(key(9), value: [], now: t(1))
        #expect(again == slot)
        #expect(table.withValue(at: 99) { _, _ in 1 } == nil)
        var drained: [FlowKey] = []
        table.removeAll { key, _ in drained.append(key) }
        #expect(drained == [key(9)])
    }
}
