/// A bounded table of flows with an intrusive least-recently-seen list.
///
/// Slots live in one array; a dictionary maps keys to slots. Every packet moves its flow to the
/// front of the list in O(1), so the oldest flow is always at the tail: idle expiry pops from the
/// tail, and a full table evicts the tail to make room. Per-flow state is generic so the table
/// knows nothing of protocols.
public struct FlowTable<Value> {
    private struct Slot {
        var key: FlowKey
        var value: Value?
        var lastSeen: Timestamp
        var previous: Int32   // towards the most recently seen
        var next: Int32       // towards the least recently seen
    }

    /// The most flows held at once.
    public let capacity: Int
    private var slots: ContiguousArray<Slot> = []
    private var index: [FlowKey: Int32] = [:]
    private var freeSlots: [Int32] = []
    private var head: Int32 = -1   // most recently seen
    private var tail: Int32 = -1   // least recently seen

    /// Creates an empty table for at most `capacity` flows (at least one).
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        index.reserveCapacity(min(self.capacity, 1 << 20))
    }

    /// How many flows the table holds.
    public var count: Int { index.count }

    /// Whether the table is at capacity (inserting will first require an eviction).
    public var isFull: Bool { index.count >= capacity }

    /// The slot of `key`, or `nil`.
    public func slot(of key: FlowKey) -> Int? {
        index[key].map(Int.init)
    }

    /// Inserts a new flow (the key must not be present and the table must not be full) and
    /// returns its slot.
    public mutating func insert(_ key: FlowKey, value: Value, now: Timestamp) -> Int {
        precondition(index[key] == nil && !isFull, "FlowTable.insert: key present or table full")
        let position: Int32
        let slot = Slot(key: key, value: value, lastSeen: now, previous: -1, next: -1)
        if let free = freeSlots.popLast() {
            position = free
            slots[Int(free)] = slot
        } else {
            position = Int32(slots.count)
            slots.append(slot)
        }
        index[key] = position
        linkAtHead(position)
        return Int(position)
    }

    /// Marks the flow in `slot` as seen at `now` (moves it to the front).
    public mutating func touch(_ slot: Int, now: Timestamp) {
        let position = Int32(slot)
        slots[slot].lastSeen = now
        guard head != position else { return }
        unlink(position)
        linkAtHead(position)
    }

    /// Runs `body` on the value in `slot`, in place (no copy of its buffers).
    public mutating func withValue<R>(at slot: Int, _ body: (inout Value, FlowKey) -> R) -> R? {
        guard slot >= 0, slot < slots.count, var value = slots[slot].value.take() else { return nil }
        defer { slots[slot].value = value }
        return body(&value, slots[slot].key)
    }

    /// When the flow in `slot` was last seen.
    public func lastSeen(_ slot: Int) -> Timestamp { slots[slot].lastSeen }

    /// Removes the flow in `slot` and returns its key and value.
    public mutating func remove(_ slot: Int) -> (key: FlowKey, value: Value)? {
        guard slot >= 0, slot < slots.count, let value = slots[slot].value.take() else { return nil }
        let key = slots[slot].key
        unlink(Int32(slot))
        index[key] = nil
        freeSlots.append(Int32(slot))
        return (key, value)
    }

    /// The least recently seen flow's slot, or `nil` when empty.
    public var oldestSlot: Int? { tail >= 0 ? Int(tail) : nil }

    /// Removes flows idle for longer than their own timeout, walking from the least recently
    /// seen. Flows nearer the front are more recent, so the walk stops at the first flow that
    /// is not idle for `shortestTimeout` (none beyond it can have expired), or after `maxVisits`.
    /// - Parameters:
    ///   - timeout: the idle time after which a flow expires, in microseconds.
    ///   - expired: receives each removed flow.
    public mutating func expire(
        now: Timestamp, shortestTimeout: Int64, maxVisits: Int,
        timeout: (Value) -> Int64, expired: (FlowKey, Value) -> Void
    ) {
        var position = tail
        var visits = 0
        while position >= 0, visits < maxVisits {
            visits += 1
            let slot = Int(position)
            let idle = now.microseconds &- slots[slot].lastSeen.microseconds
            if idle <= shortestTimeout { return }
            let towardsFront = slots[slot].previous
            if let value = slots[slot].value, idle > timeout(value), let removed = remove(slot) {
                expired(removed.key, removed.value)
            }
            position = towardsFront
        }
    }

    /// Removes every flow, least recently seen first, handing each to `body`.
    public mutating func removeAll(_ body: (FlowKey, Value) -> Void) {
        while let oldest = oldestSlot, let (key, value) = remove(oldest) {
            body(key, value)
        }
    }

    private mutating func unlink(_ position: Int32) {
        let previous = slots[Int(position)].previous
        let next = slots[Int(position)].next
        if previous >= 0 { slots[Int(previous)].next = next } else { head = next }
        if next >= 0 { slots[Int(next)].previous = previous } else { tail = previous }
        slots[Int(position)].previous = -1
        slots[Int(position)].next = -1
    }

    private mutating func linkAtHead(_ position: Int32) {
        slots[Int(position)].previous = -1
        slots[Int(position)].next = head
        if head >= 0 { slots[Int(head)].previous = position }
        head = position
        if tail < 0 { tail = position }
    }
}
