import CPrefetch

/// A flow's plain-data slot: everything the engine keeps for every flow, recognised or not.
///
/// 96 bytes (`MemoryLayout<FlowSlot>.stride`, a tested number), so that a slot always lies in
/// two cache lines: the key, first and last times, packets and bytes each way, the phase, the
/// family that recognised the flow, and the indexes of its stream and decoder state (in pools,
/// only once needed). A flow no family has recognised costs this and its index entry, nothing
/// more. The key's hash is not kept (the index recomputes it only when it moves entries), and
/// there are no expiry links: idle flows are found by sweeping the slots (see `FlowTable`).
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
        /// The slot holds no flow.
        case free
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

    init(key: FlowKey, start: Int64) {
        self.key = key
        self.start = start
        lastSeen = start
    }
}

extension UInt32 {
    /// No index.
    static let none = UInt32.max
}

/// A bounded table of flows: plain-data slots in one array and an open-addressing index of
/// `UInt32` slot numbers keyed by the flow key's hash (linear probing, deletion by backward
/// shift, at most half full). One hash per packet, computed by the caller, finds the flow; the
/// caller may prefetch the index entry and then the slot a few packets ahead.
///
/// There is no least-recently-seen list: keeping one costs two random cache lines per packet
/// (the neighbours' links). Idle flows are found by sweeping the slots in order, once a second
/// of capture time, which reads memory sequentially; a full table evicts the oldest of a few
/// slots looked at from a moving cursor.
public struct FlowTable {
    /// The most flows held at once.
    public let capacity: Int
    /// The seed of the hash the index is keyed by (`FlowKey.fastHash(seed:)`).
    public let seed: UInt64
    private var slots: ContiguousArray<FlowSlot> = []
    private var index: [UInt32]
    private let mask: Int
    private var freeSlots: [UInt32] = []
    private var evictionCursor = 0
    /// How many flows the table holds.
    public private(set) var count = 0

    /// Slots looked at to choose a flow to evict.
    static let evictionSample = 16

    /// Creates an empty table for at most `capacity` flows. Slots are reserved up front but
    /// touched only as flows come (the memory is the operating system's until then).
    public init(capacity: Int, seed: UInt64 = 0) {
        self.capacity = max(1, capacity)
        self.seed = seed
        var size = 16
        while size < self.capacity * 2 { size <<= 1 }
        index = [UInt32](repeating: .none, count: size)
        mask = size - 1
        slots.reserveCapacity(self.capacity)
        freeSlots.reserveCapacity(1_024)
    }

    /// Whether the table is at capacity (inserting will first require an eviction).
    public var isFull: Bool { count >= capacity }

    /// The slot of `key` (whose `fastHash(seed:)` is `hash`), or `nil`.
    @inline(__always)
    public func find(_ key: FlowKey, hash: UInt64) -> Int? {
        var position = Int(truncatingIfNeeded: hash) & mask
        return slots.withUnsafeBufferPointer { slots in
            index.withUnsafeBufferPointer { index in
                while true {
                    let slot = index[position]
                    if slot == .none { return nil }
                    if slots[Int(slot)].key == key { return Int(slot) }
                    position = (position &+ 1) & mask
                }
            }
        }
    }

    /// Asks the processor for the index entry of `hash` (a packet a few ahead).
    @inline(__always)
    public func prefetchIndex(hash: UInt64) {
        let position = Int(truncatingIfNeeded: hash) & mask
        index.withUnsafeBufferPointer { index in
            if let base = index.baseAddress { pw_prefetch(base + position) }
        }
    }

    /// Asks the processor for the slot the index entry of `hash` names (its first probe), once
    /// that entry is likely in cache.
    @inline(__always)
    public func prefetchSlot(hash: UInt64) {
        let position = Int(truncatingIfNeeded: hash) & mask
        let slot = index.withUnsafeBufferPointer { $0[position] }
        guard slot != .none else { return }
        slots.withUnsafeBufferPointer { slots in
            guard let base = slots.baseAddress, Int(slot) < slots.count else { return }
            let start = UnsafeRawPointer(base + Int(slot))
            pw_prefetch(start)
            pw_prefetch(start + MemoryLayout<FlowSlot>.stride - 1)
        }
    }

    /// Inserts a new flow (the key must not be present and the table must not be full) and
    /// returns its slot.
    public mutating func insert(_ key: FlowKey, hash: UInt64, start: Int64) -> Int {
        precondition(!isFull, "FlowTable.insert: the table is full")
        let slot = FlowSlot(key: key, start: start)
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
        return Int(number)
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
        var position = home(of: removed.key)
        var probes = 0
        while index[position] != number {
            position = (position &+ 1) & mask
            probes += 1
            precondition(probes <= mask, "FlowTable.remove: the slot is not in the index (inserted with a hash not of its key)")
        }
        var hole = position
        var next = (hole &+ 1) & mask
        while index[next] != .none {
            let home = home(of: slots[Int(index[next])].key)
            // The entry at `next` may move into the hole if its home is not between them.
            if (next > hole && (home <= hole || home > next)) || (next < hole && home <= hole && home > next) {
                index[hole] = index[next]
                hole = next
            }
            next = (next &+ 1) & mask
        }
        index[hole] = .none
        slots[slot].phase = .free
        freeSlots.append(number)
        count -= 1
        return removed
    }

    /// Removes every flow at once (the end of a capture): the index is cleared in one pass and
    /// the slots are kept for reuse.
    public mutating func removeAll() {
        for position in index.indices { index[position] = .none }
        slots.removeAll(keepingCapacity: true)
        freeSlots.removeAll(keepingCapacity: true)
        evictionCursor = 0
        count = 0
    }

    @inline(__always)
    private func home(of key: FlowKey) -> Int {
        Int(truncatingIfNeeded: key.fastHash(seed: seed)) & mask
    }

    /// Slots ever used: every flow is in `0 ..< highWater` (free slots there have phase `.free`).
    public var highWater: Int { slots.count }

    /// The flow to evict from a full table: the least recently seen of the next few flows from a
    /// cursor that moves on each time (an approximation of the least recently seen flow that
    /// costs a few sequential reads, not a list kept on every packet).
    public mutating func evictionCandidate() -> Int? {
        guard count > 0 else { return nil }
        var best: Int?
        var looked = 0, visited = 0
        while looked < Self.evictionSample, visited < slots.count {
            if evictionCursor >= slots.count { evictionCursor = 0 }
            let candidate = evictionCursor
            evictionCursor += 1
            visited += 1
            guard slots[candidate].phase != .free else { continue }
            looked += 1
            if best.map({ slots[candidate].lastSeen < slots[$0].lastSeen }) ?? true { best = candidate }
        }
        return best
    }

    /// Bytes the table takes: the slots ever used (reserved slots beyond them are address
    /// space the system has not given yet), and the index.
    public var footprint: (slots: Int, index: Int) {
        (slots.count * MemoryLayout<FlowSlot>.stride, index.count * MemoryLayout<UInt32>.stride)
    }
}

/// Bytes an engine's flows take: the table's slots and index, the reassembly pool and the
/// decoder pools. Several workers' footprints add up.
public struct FlowFootprint: Sendable, Equatable {
    public var slots = 0
    public var index = 0
    public var streams = 0
    public var decoders = 0

    public init(slots: Int = 0, index: Int = 0, streams: Int = 0, decoders: Int = 0) {
        self.slots = slots
        self.index = index
        self.streams = streams
        self.decoders = decoders
    }

    public static func + (lhs: FlowFootprint, rhs: FlowFootprint) -> FlowFootprint {
        FlowFootprint(slots: lhs.slots + rhs.slots, index: lhs.index + rhs.index, streams: lhs.streams + rhs.streams,
                      decoders: lhs.decoders + rhs.decoders)
    }
}
