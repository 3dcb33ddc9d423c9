import Dispatch
import Foundation
import PeerWatchCore
import Synchronization

/// A queue between threads: `push` never blocks, `pop` waits for an element. Its depth is
/// bounded by what feeds it (a pool of chunks), so a plain array suffices.
final class BlockingQueue<Element: Sendable>: Sendable {
    private let items = Mutex<[Element]>([])
    private let available = DispatchSemaphore(value: 0)

    func push(_ element: sending Element) {
        items.withLock { $0.append(element) }
        available.signal()
    }

    func pop() -> Element {
        available.wait()
        return items.withLock { $0.removeFirst() }
    }

    /// An element if one is there now.
    func tryPop() -> Element? {
        guard available.wait(timeout: .now()) == .success else { return nil }
        return items.withLock { $0.removeFirst() }
    }
}

/// One packet (or clock tick) of a worker's share of a chunk: where the frame is in the chunk,
/// what it decoded to, its flow hash and its place in the capture.
struct WorkItem: Sendable {
    enum Kind: UInt8, Sendable {
        /// A decoded packet for the worker's flows.
        case packet
        /// A frame that did not decode (counted only).
        case undecodable
        /// The capture clock passed an expiry moment: end idle flows.
        case expire
    }

    var kind: Kind
    /// `PacketSkipReason.rawValue` of an undecodable frame.
    var reason: UInt8 = 0
    var offset: UInt32 = 0
    var captured: UInt32 = 0
    var wireLength: UInt32 = 0
    var timestamp: Timestamp
    /// The frame's place among all frames of the run (expiry: the frame it comes before).
    var index: UInt64
    var hash: UInt64 = 0
    var packet = DecodedPacket()
}

/// Where an event goes in the one order of all workers' events: the frame that raised it, then
/// expiries before the frame's own events, then (for several flows ending at once on several
/// workers) the flows' last packets and flow ids, the order one engine ends them in.
struct EventKey: Sendable, Comparable {
    var index: UInt64
    var phase: UInt8
    var time: Int64
    var tie: UInt64

    init(index: UInt64, phase: UInt8, event: DetectionEvent) {
        self.index = index
        self.phase = phase
        switch event {
        case .match(let alert): (time, tie) = (alert.timestamp.microseconds, alert.flowID)
        case .flowEnd(let summary): (time, tie) = (summary.end.microseconds, summary.flowID)
        case .likelyEncrypted: (time, tie) = (0, 0)
        }
    }

    static func < (lhs: EventKey, rhs: EventKey) -> Bool {
        (lhs.index, lhs.phase, lhs.time, lhs.tie) < (rhs.index, rhs.phase, rhs.time, rhs.tie)
    }
}

/// What the reader sends a worker.
enum WorkOrder: Sendable {
    /// The worker's share of a chunk: its packets (views into the chunk), its share of the frames
    /// that did not decode, and every expiry moment.
    case batch(sequence: Int, chunk: CaptureChunk, items: [WorkItem])
    /// End every flow and stop.
    case finish(sequence: Int)
}

/// What a worker sends back for one order.
struct WorkResult: Sendable {
    var sequence: Int
    var events: [DetectionEvent]
    var keys: [EventKey]
    /// The order's item array, emptied, for the reader to fill again (no allocation per chunk).
    var spare: [WorkItem] = []
}

/// Decodes every frame of a chunk once, on the reader's thread, and deals them out: each
/// packet to the worker that owns its flow by the symmetric flow hash, the frames that do not
/// decode round-robin (they are only counted), and the capture clock's expiry moments to every
/// worker, so that all expire idle flows at the frames a single engine would.
struct Sharder {
    let workers: Int
    let seed: UInt64
    let carriers: CarrierOptions
    private var latest = Timestamp(microseconds: .min)
    private var nextExpiry = Timestamp(microseconds: .min)

    init(workers: Int, seed: UInt64, carriers: CarrierOptions) {
        self.workers = workers
        self.seed = seed
        self.carriers = carriers
    }

    /// Flows are dealt by their addresses (both orders alike) and zone, not their ports, so that
    /// the fragments of a datagram reach the worker that owns its flow and reassemble there.
    @inline(__always)
    static func addressHash(_ packet: DecodedPacket, seed: UInt64) -> UInt64 {
        let (low, high) = packet.source <= packet.destination ? (packet.source, packet.destination) : (packet.destination, packet.source)
        var x = seed ^ UInt64(packet.zone) &* 0x9E37_79B9_7F4A_7C15
        x = (x ^ low.high) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ low.low) &* 0x94D0_49BB_1331_11EB
        x = (x ^ high.high) &* 0xBF58_476D_1CE4_E5B9
        x = (x ^ high.low) &* 0x94D0_49BB_1331_11EB
        return x ^ x >> 31
    }

    /// The worker that owns a flow: the hash's upper half scaled to the worker count.
    @inline(__always)
    static func worker(of hash: UInt64, among workers: Int) -> Int { Int(((hash >> 32) &* UInt64(workers)) >> 32) }

    /// Appends each frame of `chunk` (frame `firstIndex` of the run first) to its worker's list;
    /// returns the frames and the failure that ended them, as `CaptureChunk.forEachRecord` does.
    mutating func shard(_ chunk: CaptureChunk, firstIndex: UInt64, into lists: inout [[WorkItem]]) -> (records: Int, failure: CaptureError?) {
        let link = chunk.link, seed = seed, count = workers, carriers = carriers
        var index = firstIndex
        return chunk.forEachRecord { record in
            if record.timestamp > latest { latest = record.timestamp }
            if latest >= nextExpiry {
                for worker in 0 ..< count { lists[worker].append(WorkItem(kind: .expire, timestamp: latest, index: index)) }
                nextExpiry = latest.adding(seconds: 1)
            }
            switch PacketDecoder.decode(record.bytes, link: link, options: carriers) {
            case .success(let packet):
                // A fragment has no ports: its flow's hash comes once it is reassembled.
                let hash = packet.fragment.isFragment ? 0 : FlowKey.of(packet).key.fastHash(seed: seed)
                let worker = count == 1 ? 0 : Self.worker(of: Self.addressHash(packet, seed: seed), among: count)
                lists[worker].append(WorkItem(kind: .packet, offset: UInt32(record.offset), captured: UInt32(record.bytes.count),
                                              wireLength: UInt32(clamping: record.wireLength), timestamp: record.timestamp, index: index,
                                              hash: hash, packet: packet))
            case .failure(let error):
                lists[Int(index % UInt64(count))].append(WorkItem(kind: .undecodable, reason: UInt8(error.reason.rawValue),
                                                                 wireLength: UInt32(clamping: record.wireLength), timestamp: record.timestamp, index: index))
            }
            index &+= 1
        }
    }
}

/// A worker thread that owns one engine outright: it takes its share of each chunk from its
/// queue (the reader decoded the frames and dealt them out), runs them through the engine, and
/// hands back the events with their keys. Its counters are published after each batch for the
/// pipeline to sum.
final class FlowWorker: @unchecked Sendable {
    let number: Int
    let orders = BlockingQueue<WorkOrder>()
    let results = BlockingQueue<WorkResult>()
    /// The counters after the last batch, and the flows held and table sizes before the end.
    let published: Mutex<(counters: EngineCounters, flows: Int)>
    let atEnd = Mutex<(flows: Int, footprint: FlowFootprint)>((0, FlowFootprint()))

    /// The engine, in a struct of its own so that the batch loop reaches it with static
    /// exclusivity (a class property would be checked at run time on every access).
    private var core: WorkerCore
    private let watchLists: WatchListStore
    private var generation: Int
    private let chunks: BlockingQueue<CaptureChunk>
    private let done = DispatchSemaphore(value: 0)

    init(number: Int, configuration: EngineConfiguration, watchLists: WatchListStore, chunks: BlockingQueue<CaptureChunk>) {
        self.number = number
        self.watchLists = watchLists
        self.chunks = chunks
        let (snapshot, generation) = watchLists.snapshotAndGeneration()
        self.generation = generation
        let engine = DetectionEngine(configuration: configuration, watchList: snapshot)
        core = WorkerCore(engine: engine)
        published = Mutex((engine.counters, 0))
    }

    func start() {
        let thread = Thread { [self] in self.run() }
        thread.name = "peerwatch-worker-\(number)"
        thread.stackSize = 1 << 22
        thread.start()
    }

    /// Waits for the thread to end (after a `finish` order).
    func join() { done.wait() }

    private func run() {
        defer { done.signal() }
        while true {
            let order = orders.pop()
            results.push(handle(order))
            if case .finish = order { return }
        }
    }

    /// Runs one order through the engine (on the worker's thread, or inline for one worker).
    func handle(_ order: WorkOrder) -> WorkResult {
        var events: [DetectionEvent] = []
        var keys: [EventKey] = []
        switch order {
        case .batch(let sequence, let chunk, var items):
            if watchLists.generation != generation {
                let (snapshot, latest) = watchLists.snapshotAndGeneration()
                core.engine.watchList = snapshot
                generation = latest
            }
            core.run(items, frames: chunk.bytes, events: &events, keys: &keys)
            if chunk.release() { chunks.push(chunk) }
            let counters = core.engine.counters, flows = core.engine.flowCount
            published.withLock { $0 = (counters, flows) }
            items.removeAll(keepingCapacity: true)
            return WorkResult(sequence: sequence, events: events, keys: keys, spare: items)
        case .finish(let sequence):
            let flows = core.engine.flowCount, footprint = core.engine.footprint
            atEnd.withLock { $0 = (flows, footprint) }
            core.engine.finish(events: &events)
            for event in events { keys.append(EventKey(index: .max, phase: 0, event: event)) }
            let counters = core.engine.counters
            published.withLock { $0 = (counters, 0) }
            return WorkResult(sequence: sequence, events: events, keys: keys)
        }
    }
}

/// A worker's engine and its batch loop.
struct WorkerCore {
    var engine: DetectionEngine

    /// Packets ahead whose index entry, and then slot, are asked for before they are reached.
    static let indexLookahead = 8
    static let slotLookahead = 4

    /// Runs the worker's share of a chunk through the engine, each event keyed by the frame
    /// that raised it.
    mutating func run(_ items: [WorkItem], frames: UnsafeRawBufferPointer, events: inout [DetectionEvent], keys: inout [EventKey]) {
        items.withUnsafeBufferPointer { items in
            for position in items.indices {
                // The flow table's cache misses of the packets ahead overlap this one's work.
                let ahead = position + Self.indexLookahead, nearer = position + Self.slotLookahead
                if ahead < items.count, items[ahead].kind == .packet { engine.prefetchIndex(hash: items[ahead].hash) }
                if nearer < items.count, items[nearer].kind == .packet { engine.prefetchSlot(hash: items[nearer].hash) }
                let before = events.count
                let kind = items[position].kind
                switch kind {
                case .packet:
                    let offset = Int(items[position].offset)
                    let frame = UnsafeRawBufferPointer(rebasing: frames[offset ..< offset + Int(items[position].captured)])
                    engine.take(items[position].packet, frame: frame, wireLength: Int(items[position].wireLength), timestamp: items[position].timestamp,
                                hash: items[position].hash, events: &events)
                case .undecodable:
                    engine.takeUndecodable(PacketSkipReason(rawValue: Int(items[position].reason)) ?? .malformedIP, wireLength: Int(items[position].wireLength))
                case .expire:
                    engine.expire(now: items[position].timestamp, events: &events)
                }
                if events.count > before {
                    let phase: UInt8 = kind == .expire ? 0 : 1
                    for event in events[before...] { keys.append(EventKey(index: items[position].index, phase: phase, event: event)) }
                }
            }
        }
    }
}

/// Puts the workers' results back in one order, sequence by sequence: for each sequence it
/// waits for every worker's result, merges them by `EventKey` (ties go to the lower worker), and
/// applies the one `FlaggedAddressTally` of the run.
struct EventSequencer {
    private var pending: [Int: [Int: WorkResult]] = [:]
    private var next = 0
    private var tally = FlaggedAddressTally()
    let workers: Int

    init(workers: Int) { self.workers = workers }

    /// Takes a result from `worker`; returns the events now in order (possibly none).
    mutating func take(_ result: WorkResult, from worker: Int) -> [DetectionEvent] {
        pending[result.sequence, default: [:]][worker] = result
        var ordered: [DetectionEvent] = []
        while let ready = pending[next], ready.count == workers {
            pending[next] = nil
            next += 1
            merge((0 ..< workers).compactMap { ready[$0] }, into: &ordered)
        }
        tally.apply(&ordered)
        return ordered
    }

    /// Whether every sequence before `sequence` has been put in order.
    func isDone(through sequence: Int) -> Bool { next > sequence }

    private func merge(_ lists: [WorkResult], into ordered: inout [DetectionEvent]) {
        let nonEmpty = lists.filter { !$0.events.isEmpty }
        if nonEmpty.count <= 1 {
            ordered.append(contentsOf: nonEmpty.first?.events ?? [])
            return
        }
        var heads = [Int](repeating: 0, count: nonEmpty.count)
        while true {
            var best: Int?
            for (list, head) in heads.enumerated() where head < nonEmpty[list].events.count {
                if let current = best {
                    if nonEmpty[list].keys[head] < nonEmpty[current].keys[heads[current]] { best = list }
                } else {
                    best = list
                }
            }
            guard let chosen = best else { return }
            ordered.append(nonEmpty[chosen].events[heads[chosen]])
            heads[chosen] += 1
        }
    }
}
