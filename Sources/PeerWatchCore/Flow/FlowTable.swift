/// A flow's plain-data slot: everything the engine keeps for every flow, recognised or not.
///
/// 112 bytes (`MemoryLayout<FlowSlot>.stride`, a tested number): the key and its hash, first
/// and last times, packets and bytes each way, the phase, the family that recognised the flow,
/// the indexes of its stream and decoder state (in pools, only once needed) and its links in the
/// expiry list. A flow no family has recognised costs this and its index entry, nothing more.
public struct FlowSlot: Sendable {
    /// Where a flow is in its life.
    public enum Phase: UInt8, Sendable {
        /// Its first bytes are still being looked at for a family.
        case probing
        /// A family recognised it; its decoder reads on.
        case recognised
        /// No family recognised it within the probing bounds, or its decoder is done: only
        /// counters from now on.
        case passive
    }

    /// Facts about the flow, one bit each.
    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// The lower endpoint opened the flow.
        public static let initiatorIsLow = Flags(rawValue: 1 << 0)
        /// A FIN or RST was seen: the flow expires on the short timeout.
        public static let closing = Flags(rawValue: 1 << 1)
        /// A watch-listed identifier was seen on the flow (it has a flagged-flow record).
        public static let flagged = Flags(rawValue: 1 << 2)
        /// The flow opened like an encrypted stream of a family (counted once).
        public static let likelyEncrypted = Flags(rawValue: 1 << 3)
    }

    public var key: FlowKey
    /// `key.fastHash`, kept so that the index never recomputes it.
    public var hash: UInt64
    /// The first and last packet's capture times, in microseconds.
    public var start: Int64
    public var lastSeen: Int64
    public var bytesToServer: UInt64 = 0
    public var bytesToClient: UInt64 = 0
    public var packetsToServer: UInt32 = 0
    public var packetsToClient: UInt32 = 0
    /// The probe or decoder state's index in its pool (`.none` for none).
    public var state: UInt32 = .none
    /// The TCP reassembly state's index in its pool (`.none` for none).
    public var streams: UInt32 = .none
    /// Expiry links: towards the most recently seen flow, and towards the least.
    var newer: UInt32 = .none
    var older: UInt32 = .none
    public var phase = Phase.probing
    /// The family that recognised the flow (`Family.rawValue`), meaningful once recognised.
    public var family: UInt8 = 0
    /// The first P2P protocol recognised (`P2PProtocol.rawValue + 1`; 0 for none).
    public var firstProtocol: UInt8 = 0
    public var flags = Flags()
    /// P2P protocols recognised on the flow, one bit each (`1 << P2PProtocol.rawValue`).
    public var protocolsSeen: UInt16 = 0
    /// UDP datagrams looked at with no family recognising them.
    public var unrecognisedDatagrams: UInt8 = 0
    /// How each TCP direction's first payload opened, four bits each (to the server low, to
    /// the client high): 0 not yet, `Family.rawValue + 1` like that family's encrypted stream,
    /// `0xF` like none.
    public var openings: UInt8 = 0

    init(key: FlowKey, hash: UInt64, start: Int64) {
        self.key = key
        self.hash = hash
        self.start = start
        lastSeen = start
    }
}

extension UInt32 {
    /// No index.
    static let none = UInt32.max
}

/// A bounded table of flows: plain-data slots in one array, an open-addressing index of
/// `UInt32` slot numbers keyed by the flow key's hash (linear probing, deletion by backward
/// shift), and an intrusive least-recently-seen list through the slots. One hash per packet,
/// computed by the caller, finds the flow; the oldest flow is always at the list's tail, so
/// idle expiry walks from there and a full table evicts it.
public struct FlowTable {
    /// The most flows held at once.
    public let capacity: Int
    private var slots: ContiguousArray<FlowSlot> = []
    private var index: [UInt32]
    private let mask: Int
    private var freeSlots: [UInt32] = []
    private var head = UInt32.none   // most recently seen
    private var tail = UInt32.none   // least recently seen
    /// How many flows the table holds.
    public private(set) var count = 0

    /// Creates an empty table for at most `capacity` flows. Slots are reserved up front but
    /// touched only as flows come (the memory is the operating system's until then).
    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        var size = 16
        while size < self.capacity * 2 { size <<= 1 }
        index = [UInt32](repeating: .none, count: size)
        mask = size - 1
        slots.reserveCapacity(self.capacity)
        freeSlots.reserveCapacity(1_024)
    }

    /// Whether the table is at capacity (inserting will first require an eviction).
    public var isFull: Bool { count >= capacity }

    /// The slot of `key` (whose `fastHash` is `hash`), or `nil`.
    @inline(__always)
    public func find(_ key: FlowKey, hash: UInt64) -> Int? {
        var position = Int(truncatingIfNeeded: hash) & mask
        return slots.withUnsafeBufferPointer { slots in
            index.withUnsafeBufferPointer { index in
                while true {
                    let slot = index[position]
                    if slot == .none { return nil }
                    if slots[Int(slot)].hash == hash, slots[Int(slot)].key == key { return Int(slot) }
                    position = (position &+ 1) & mask
                }
            }
        }
    }

    /// Inserts a new flow (the key must not be present and the table must not be full) and
    /// returns its slot.
    public mutating func insert(_ key: FlowKey, hash: UInt64, start: Int64) -> Int {
        precondition(!isFull, "FlowTable.insert: the table is full")
        let slot = FlowSlot(key: key, hash: hash, start: start)
        let number: UInt32
        if let free = freeSlots.popLast() {
            number = free
            slots[Int(free)] = slot
        } else {
            number = UInt32(slots.count)
            slots.append(slot)
        }
        var position = Int(truncatingIfNeeded: hash) & mask
        while index[position] != .none { position = (position &+ 1) & mask }
        index[position] = number
        count += 1
        linkAtHead(number)
        return Int(number)
    }

    /// Marks the flow in `slot` as seen at `now` (moves it to the front of the expiry list).
    @inline(__always)
    public mutating func touch(_ slot: Int, now: Int64) {
        slots[slot].lastSeen = now
        let number = UInt32(slot)
        guard head != number else { return }
        unlink(number)
        linkAtHead(number)
    }

    /// The slot's contents, to read or change in place.
    public subscript(slot: Int) -> FlowSlot {
        @inline(__always) get { slots[slot] }
        @inline(__always) _modify { yield &slots[slot] }
    }

    /// Removes the flow in `slot` and returns it.
    @discardableResult
    public mutating func remove(_ slot: Int) -> FlowSlot {
        let removed = slots[slot]
        let number = UInt32(slot)
        // Find its index entry, then close the hole by shifting later entries of the run back.
        var position = Int(truncatingIfNeeded: removed.hash) & mask
        while index[position] != number { position = (position &+ 1) & mask }
        var hole = position
        var next = (hole &+ 1) & mask
        while index[next] != .none {
            let home = Int(truncatingIfNeeded: slots[Int(index[next])].hash) & mask
            // The entry at `next` may move into the hole if its home is not between them.
            if (next > hole && (home <= hole || home > next)) || (next < hole && home <= hole && home > next) {
                index[hole] = index[next]
                hole = next
            }
            next = (next &+ 1) & mask
        }
        index[hole] = .none
        unlink(number)
        freeSlots.append(number)
        count -= 1
        return removed
    }

    /// The least recently seen flow's slot, or `nil` when empty.
    public var oldestSlot: Int? { tail == .none ? nil : Int(tail) }

    /// The flow seen just after the one in `slot` (towards the most recent), or `nil`.
    public func newer(than slot: Int) -> Int? {
        let newer = slots[slot].newer
        return newer == .none ? nil : Int(newer)
    }

    private mutating func unlink(_ number: UInt32) {
        let newer = slots[Int(number)].newer
        let older = slots[Int(number)].older
        if newer != .none { slots[Int(newer)].older = older } else { head = older }
        if older != .none { slots[Int(older)].newer = newer } else { tail = newer }
        slots[Int(number)].newer = .none
        slots[Int(number)].older = .none
    }

    private mutating func linkAtHead(_ number: UInt32) {
        slots[Int(number)].newer = .none
        slots[Int(number)].older = head
        if head != .none { slots[Int(head)].newer = number }
        head = number
        if tail == .none { tail = number }
    }

    /// Bytes the table takes: the slots in use and reserved, and the index.
    public var footprint: (slots: Int, index: Int) {
        (slots.capacity * MemoryLayout<FlowSlot>.stride, index.count * MemoryLayout<UInt32>.stride)
    }
}
