/// What happened to IP fragments, one counter each (`EngineCounters.fragments`).
public enum FragmentOutcome: Int, Sendable, CaseIterable, CustomStringConvertible {
    /// A fragment frame taken in.
    case received
    /// A datagram put back together and decoded like any other packet.
    case reassembled
    /// A fragment that overlapped bytes already held: the first copy won.
    case overlapped
    /// A datagram given up: its fragments did not all arrive within the timeout.
    case timedOut
    /// A datagram given up: more fragments than `maxFragments`.
    case tooManyFragments
    /// A datagram given up: longer than `maxDatagramBytes`, or fragments disagreeing on its end.
    case inconsistent
    /// A fragment cut short by the capture's snaplen (its datagram cannot be whole).
    case truncated
    /// A datagram given up to make room (datagrams in flight or bytes held at their cap).
    case evicted
    /// A datagram still missing fragments when the capture ended.
    case unfinished

    public var description: String {
        switch self {
        case .received: "received"
        case .reassembled: "reassembled"
        case .overlapped: "overlapped"
        case .timedOut: "timed_out"
        case .tooManyFragments: "too_many_fragments"
        case .inconsistent: "inconsistent"
        case .truncated: "truncated"
        case .evicted: "evicted"
        case .unfinished: "unfinished"
        }
    }
}

/// The bounds of fragment reassembly.
public struct FragmentLimits: Sendable, Equatable {
    /// Fragments of one datagram (Linux allows 64 by default, `ipfrag_max_dist` aside).
    public var maxFragments = 64
    /// Bytes of one datagram's payload (an IPv4 datagram cannot be longer than 65,535 bytes).
    public var maxDatagramBytes = 65_535
    /// Datagrams waiting for fragments at once, per worker.
    public var maxDatagrams = 4_096
    /// Bytes held for waiting datagrams, per worker (the global cap).
    public var maxBytes = 8 << 20
    /// Seconds a datagram waits for its missing fragments (Linux's `ipfrag_time` is 30).
    public var timeout: Int64 = 30

    public init() {}
}

/// Puts IPv4 and IPv6 fragments back together, bounded, driven by capture time alone.
///
/// A datagram is known by its source, destination, identification, protocol and zone (the
/// zone keeps fragments behind different VLANs and tunnels apart). Overlaps follow one policy,
/// the stream reassembler's: the first copy of a byte wins, later copies of it are ignored and
/// counted. A datagram is given up when it passes a bound (fragments, length, a disagreeing
/// end), when it waits past the timeout, or to make room for a newer one when the datagrams or
/// bytes held reach their cap (the oldest goes first); each is counted, never a crash.
public struct FragmentReassembler {
    /// A fragment's datagram, as the packet decoder read it.
    public struct Key: Hashable, Sendable {
        public var source: IPAddress
        public var destination: IPAddress
        public var identification: UInt32
        public var proto: UInt8
        public var zone: UInt16
    }

    /// A datagram being put together.
    struct Pending {
        var firstSeen: Int64
        var bytes: [UInt8] = []
        /// Byte ranges held, sorted and disjoint.
        var ranges: [Range<Int>] = []
        /// The payload's length, once the last fragment came.
        var total: Int?
        var fragments = 0
        var wireBytes = 0
    }

    /// A datagram put back together (its payload is `completed`): the transport protocol, and
    /// the wire bytes and count of its fragments.
    public struct Datagram: Sendable {
        public var proto: UInt8
        public var wireBytes: Int
        public var fragments: Int
    }

    public let limits: FragmentLimits
    private var pending: [Key: Pending] = [:]
    /// Datagrams in the order they began (with their start, to tell a later one of the same
    /// key apart), from `oldest` on: eviction takes the oldest without a search.
    private var order: [(key: Key, firstSeen: Int64)] = []
    private var oldest = 0
    private var bytesHeld = 0
    /// The last completed datagram's payload, kept until the next insert.
    public private(set) var completed: [UInt8] = []
    /// Counters by outcome (indexed by `FragmentOutcome.rawValue`).
    public private(set) var counters = [Int](repeating: 0, count: FragmentOutcome.allCases.count)
    /// Fragment frames whose datagram was given up.
    public private(set) var framesGivenUp = 0

    public init(limits: FragmentLimits = FragmentLimits()) { self.limits = limits }

    /// Datagrams waiting for fragments.
    public var inFlight: Int { pending.count }

    private mutating func count(_ outcome: FragmentOutcome, _ amount: Int = 1) { counters[outcome.rawValue] &+= amount }

    private mutating func giveUp(_ key: Key, _ outcome: FragmentOutcome) {
        guard let datagram = pending.removeValue(forKey: key) else { return }
        bytesHeld -= datagram.bytes.count
        framesGivenUp &+= datagram.fragments
        count(outcome)
    }

    /// Takes one fragment: `data` at byte `offset` of the datagram's payload, `more` unless it
    /// is the last. Returns the datagram when this fragment completes it (its payload is then
    /// `completed`).
    public mutating func insert(
        _ key: Key, offset: Int, more: Bool, data: UnsafeRawBufferPointer, truncated: Bool, wireLength: Int, at time: Timestamp
    ) -> Datagram? {
        count(.received)
        if truncated {
            count(.truncated)
            framesGivenUp &+= 1
            giveUp(key, .truncated)
            return nil
        }
        let end = offset + data.count
        if pending[key] == nil {
            guard end <= limits.maxDatagramBytes else {
                count(.inconsistent)
                framesGivenUp &+= 1
                return nil
            }
            makeRoom(for: end)
            pending[key] = Pending(firstSeen: time.microseconds)
            order.append((key, time.microseconds))
            // Completed datagrams leave their entries behind: the list is cut back to the
            // waiting ones now and then, so that it stays within twice the cap.
            if order.count - oldest > 2 * limits.maxDatagrams + 64 {
                order = order[oldest...].filter { pending[$0.key]?.firstSeen == $0.firstSeen }
                oldest = 0
            }
        }
        guard var datagram = pending.removeValue(forKey: key) else { return nil }
        bytesHeld -= datagram.bytes.count
        datagram.fragments += 1
        datagram.wireBytes += wireLength
        // The datagram's end: known from the last fragment; nothing may lie past it.
        var consistent = end <= limits.maxDatagramBytes
        if !more {
            if let total = datagram.total, total != end { consistent = false }
            if let last = datagram.ranges.last, last.upperBound > end { consistent = false }
            datagram.total = end
        } else if let total = datagram.total, end > total {
            consistent = false
        }
        guard consistent else {
            pending[key] = datagram
            bytesHeld += datagram.bytes.count
            giveUp(key, .inconsistent)
            return nil
        }
        guard datagram.fragments <= limits.maxFragments else {
            pending[key] = datagram
            bytesHeld += datagram.bytes.count
            giveUp(key, .tooManyFragments)
            return nil
        }
        if datagram.bytes.count < end { datagram.bytes.append(contentsOf: repeatElement(0, count: end - datagram.bytes.count)) }
        // First copy wins: only the bytes no earlier fragment brought are written.
        var overlapped = false
        var cursor = offset
        var merged: [Range<Int>] = []
        merged.reserveCapacity(datagram.ranges.count + 1)
        for range in datagram.ranges {
            if range.upperBound <= offset || range.lowerBound >= end {
                merged.append(range)
                continue
            }
            overlapped = true
            if cursor < range.lowerBound { copy(data, from: offset, range: cursor ..< range.lowerBound, into: &datagram.bytes) }
            cursor = max(cursor, range.upperBound)
            merged.append(range)
        }
        if cursor < end { copy(data, from: offset, range: cursor ..< end, into: &datagram.bytes) }
        if overlapped { count(.overlapped) }
        merged.append(offset ..< end)
        datagram.ranges = Self.coalesce(merged)
        if let total = datagram.total, datagram.ranges.count == 1, datagram.ranges[0] == 0 ..< total {
            count(.reassembled)
            completed = datagram.bytes
            return Datagram(proto: key.proto, wireBytes: datagram.wireBytes, fragments: datagram.fragments)
        }
        bytesHeld += datagram.bytes.count
        pending[key] = datagram
        return nil
    }

    private func copy(_ data: UnsafeRawBufferPointer, from offset: Int, range: Range<Int>, into bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { target in
            for index in range { target[index] = data[index - offset] }
        }
    }

    private static func coalesce(_ ranges: [Range<Int>]) -> [Range<Int>] {
        let sorted = ranges.sorted { $0.lowerBound < $1.lowerBound }
        var out: [Range<Int>] = []
        for range in sorted where !range.isEmpty {
            if let last = out.last, range.lowerBound <= last.upperBound {
                out[out.count - 1] = last.lowerBound ..< max(last.upperBound, range.upperBound)
            } else {
                out.append(range)
            }
        }
        return out
    }

    /// Gives up the oldest datagrams until one more of `bytes` fits.
    private mutating func makeRoom(for bytes: Int) {
        while !pending.isEmpty, pending.count >= limits.maxDatagrams || bytesHeld + bytes > limits.maxBytes {
            guard oldest < order.count else { return }
            let entry = order[oldest]
            oldest += 1
            // Entries of datagrams already completed or given up are passed over.
            if pending[entry.key]?.firstSeen == entry.firstSeen { giveUp(entry.key, .evicted) }
        }
        // The passed-over front is dropped once it is most of the array.
        if oldest > 64, oldest * 2 > order.count {
            order.removeFirst(oldest)
            oldest = 0
        }
    }

    /// Gives up every datagram still waiting (the capture ended).
    public mutating func finish() {
        for key in Array(pending.keys) { giveUp(key, .unfinished) }
        order.removeAll()
        oldest = 0
    }

    /// Gives up datagrams that waited past the timeout.
    public mutating func expire(now: Timestamp) {
        guard !pending.isEmpty else { return }
        let limit = limits.timeout * 1_000_000
        for (key, datagram) in pending where now.microseconds &- datagram.firstSeen > limit { giveUp(key, .timedOut) }
        if pending.isEmpty {
            order.removeAll(keepingCapacity: true)
            oldest = 0
        }
    }
}
