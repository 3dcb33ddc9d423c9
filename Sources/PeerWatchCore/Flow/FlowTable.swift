/// A bounded table of flows with an intrusive least-recently-seen list.
///
/// Slots live in two parallel arrays (links and values); a dictionary maps keys to slots. Every
/// packet moves its flow to the front of the list in O(1), so the oldest flow is always at the
/// tail: idle expiry walks from the tail, and a full table evicts the tail to make room. Values
/// are mutated in place, never copied out and back. Per-flow state is generic so the table knows
/// nothing of protocols.
public struct FlowTable<Value> {
    private struct Link {
        var key: FlowKey
        var lastSeen: Timestamp
        var previous: Int32   // towards the most recently seen
        var next: Int32       // towards the least recently seen
        var occupied: Bool
    }

    /// The most flows held at once.
    public let capacity: Int
    private let placeholder: Value
    private var links: ContiguousArray<Link> = []
    private var values: ContiguousArray<Value> = []
    private var index: [FlowKey: Int32] = [:]
    private var freeSlots: [Int32] = []
    private var head: Int32 = -1   // most recently seen
    private var tail: Int32 = -1   // least recently seen

    /// Creates an empty table for at most `capacity` flows (at least one).
    /// - Parameter placeholder: the value free slots hold (it is never handed out).
    public init(capacity: Int, placeholder: Value) {
        self.capacity = max(1, capacity)
        self.placeholder = placeholder
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
        let link = Link(key: key, lastSeen: now, previous: -1, next: -1, occupied: true)
        if let free = freeSlots.popLast() {
            position = free
            links[Int(free)] = link
            values[Int(free)] = value
        } else {
            position = Int32(links.count)
            links.append(link)
            values.append(value)
        }
        index[key] = position
        linkAtHead(position)
        return Int(position)
    }

    /// Marks the flow in `slot` as seen at `now` (moves it to the front).
    public mutating func touch(_ slot: Int, now: Timestamp) {
        let position = Int32(slot)
        links[slot].lastSeen = now
        guard head != position else { return }
        unlink(position)
        linkAtHead(position)
    }

    /// Runs `body` on the value in `slot`, in place.
    public mutating func withValue<R>(at slot: Int, _ body: (inout Value, FlowKey) -> R) -> R? {
        guard slot >= 0, slot < links.count, links[slot].occupied else { return nil }
        let key = links[slot].key
        return body(&values[slot], key)
    }

    /// When the flow in `slot` was last seen.
    public func lastSeen(_ slot: Int) -> Timestamp { links[slot].lastSeen }

    /// Removes the flow in `slot` and returns its key and value.
    public mutating func remove(_ slot: Int) -> (key: FlowKey, value: Value)? {
        guard slot >= 0, slot < links.count, links[slot].occupied else { return nil }
        var value = placeholder
        swap(&value, &values[slot])
        let key = links[slot].key
        unlink(Int32(slot))
        links[slot].occupied = false
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
            let idle = now.microseconds &- links[slot].lastSeen.microseconds
            if idle <= shortestTimeout { return }
            let towardsFront = links[slot].previous
            if idle > timeout(values[slot]), let removed = remove(slot) {
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
        let previous = links[Int(position)].previous
        let next = links[Int(position)].next
        if previous >= 0 { links[Int(previous)].next = next } else { head = next }
        if next >= 0 { links[Int(next)].previous = previous } else { tail = previous }
        links[Int(position)].previous = -1
        links[Int(position)].next = -1
    }

    private mutating func linkAtHead(_ position: Int32) {
        links[Int(position)].previous = -1
        links[Int(position)].next = head
        if head >= 0 { links[Int(head)].previous = position }
        head = position
        if tail < 0 { tail = position }
    }
}
