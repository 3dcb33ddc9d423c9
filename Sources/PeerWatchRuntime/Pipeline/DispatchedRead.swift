import Foundation
import PeerWatchCore

/// Offline reading on several workers: the calling thread reads the capture files in chunks
/// (classic pcap straight from the file, pcapng through libpcap copied in) and hands every
/// chunk to every worker; each worker decodes the frames and takes those whose flow it owns by
/// the symmetric flow hash, and each keeps the same capture clock, so that all expire idle
/// flows at the same frames a single engine would. Workers' events come back per chunk and are put in one order (the
/// frame that raised each), so that the records do not depend on how many workers read the
/// capture (but for flows ending at the very same microsecond on different workers, and for a
/// table full enough to evict, whose size is split between the workers).
final class DispatchedRead {
    /// What a run did.
    struct Outcome {
        var end: CaptureEnd
        var failure: CaptureError?
    }

    /// Bytes of one chunk, and chunks in flight: 8 × 4 MiB.
    static let chunkCapacity = 4 * 1024 * 1024
    static let chunkCount = 16
    /// Items a chunk's lists start with room for (about the frames of 4 MiB of ISP traffic);
    /// a list grows past it when it must, and keeps its room when it comes back.
    static let itemsPerChunk = 8_192

    private let paths: [String]
    private let stop: StopSignal?
    private let workers: [FlowWorker]
    private let chunks = BlockingQueue<CaptureChunk>()
    private var sequencer: EventSequencer
    private var sharder: Sharder
    /// Each worker's share of the chunk at hand, and emptied arrays the workers gave back.
    private var lists: [[WorkItem]]
    private var spares: [[[WorkItem]]]
    private var sequence = 0
    /// Frames handed out so far: the index of the next chunk's first.
    private var index: UInt64 = 0

    /// - Parameter configuration: the sensor's engine settings; each worker gets a share of the
    ///   flow table, and the tally of flagged addresses is kept here, for all of them.
    init(paths: [String], threads: Int, configuration: EngineConfiguration, watchLists: WatchListStore, stop: StopSignal?) {
        self.paths = paths
        self.stop = stop
        let count = max(1, threads)
        var share = configuration
        share.maxFlows = max(1, configuration.maxFlows / count)
        share.tallyFlaggedAddresses = false
        let chunks = chunks
        workers = (0 ..< count).map { FlowWorker(number: $0, configuration: share, watchLists: watchLists, chunks: chunks) }
        sequencer = EventSequencer(workers: count)
        sharder = Sharder(workers: count, seed: configuration.flowHashSeed, carriers: configuration.carriers)
        lists = Array(repeating: [], count: count)
        spares = Array(repeating: [], count: count)
        for _ in 0 ..< Self.chunkCount { chunks.push(CaptureChunk(capacity: Self.chunkCapacity)) }
    }

    /// The workers' counters, summed (as of their last batch).
    var counters: EngineCounters {
        var total = EngineCounters()
        for worker in workers { total.add(worker.published.withLock { $0.counters }) }
        return total
    }

    /// Packets each worker took (its flows' and its share of those that do not decode).
    var packetsPerWorker: [UInt64] { workers.map { UInt64($0.published.withLock { $0.counters.packets }) } }

    /// Flows the workers hold now.
    var flowCount: Int { workers.reduce(0) { $0 + $1.published.withLock { $0.flows } } }

    /// Flows held just before the end, and the workers' table and pool sizes then, summed.
    var atEnd: (flows: Int, footprint: FlowFootprint) {
        workers.map { $0.atEnd.withLock { $0 } }.reduce((0, FlowFootprint())) { ($0.0 + $1.flows, $0.1 + $1.footprint) }
    }

    private func shouldStop() -> Bool { stop?.isRequested ?? false }

    /// Reads every file, then ends every flow; `submit` gets the events in order, on this thread.
    func run(onOpen: (String) -> Void, onTick: () -> Void, submit: ([DetectionEvent]) -> Void) -> Outcome {
        if !isInline { for worker in workers { worker.start() } }
        var outcome = Outcome(end: .endOfInput)
        do {
            outcome.end = try read(onOpen: onOpen, onTick: onTick, submit: submit)
        } catch {
            outcome.failure = error
        }
        // Whatever happened, every worker ends its flows and every event is written.
        let last = sequence
        for worker in workers { send(.finish(sequence: last), to: worker) }
        while !sequencer.isDone(through: last) { collect(waiting: true, submit: submit) }
        if !isInline { for worker in workers { worker.join() } }
        return outcome
    }

    private func read(onOpen: (String) -> Void, onTick: () -> Void, submit: ([DetectionEvent]) -> Void) throws(CaptureError) -> CaptureEnd {
        for path in paths {
            if shouldStop() { return .stopped }
            let input = try CaptureInput.open(path, stop: stop)
            let link = try input.handle.linkType(of: path)
            onOpen(input.handle.dataLinkName)
            if input.relay == nil, let classic = ClassicPcapReader.open(path) {
                var previous: CaptureChunk?
                defer { if let previous, previous.release() { chunks.push(previous) } }
                while true {
                    let chunk = takeChunk(submit: submit)
                    chunk.hold(1)
                    let more: Bool
                    do {
                        more = try classic.fill(chunk, after: previous)
                    } catch {
                        if chunk.release() { chunks.push(chunk) }
                        throw error
                    }
                    // The carried bytes are copied: the reader lets go of the previous chunk.
                    if let previous, previous.release() { chunks.push(previous) }
                    previous = chunk
                    guard more else { break }
                    chunk.link = link
                    if try dispatch(chunk, onTick: onTick, submit: submit) { return .stopped }
                }
            } else {
                var chunk = takeChunk(submit: submit)
                chunk.reset(swapped: false, nanoseconds: false, snapshotLength: ClassicPcapReader.maxRecordLength, source: path)
                chunk.link = link
                chunk.hold(1)
                defer { if chunk.release() { chunks.push(chunk) } }
                reading: while true {
                    if shouldStop() { return .stopped }
                    let next: NextPacket
                    do {
                        next = try input.handle.next()
                    } catch {
                        if shouldStop() { return .stopped }
                        throw error
                    }
                    switch next {
                    case .packet(let bytes, let wireLength, let timestamp):
                        if chunk.room < 16 + bytes.count {
                            let stopped = try dispatch(chunk, onTick: onTick, submit: submit)
                            if chunk.release() { chunks.push(chunk) }
                            chunk = takeChunk(submit: submit)
                            chunk.reset(swapped: false, nanoseconds: false, snapshotLength: ClassicPcapReader.maxRecordLength, source: path)
                            chunk.link = link
                            chunk.hold(1)
                            if stopped { return .stopped }
                        }
                        chunk.append(bytes, wireLength: wireLength, timestamp: timestamp)
                    case .timeout:
                        continue
                    case .endOfFile:
                        if input.wasCutShort { return .stopped }
                        break reading
                    }
                }
                if chunk.bytes.count > 0, try dispatch(chunk, onTick: onTick, submit: submit) { return .stopped }
            }
            onTick()
        }
        return .endOfInput
    }

    /// A free chunk (workers give chunks back as they finish them), once the results that are
    /// there are submitted.
    private func takeChunk(submit: ([DetectionEvent]) -> Void) -> CaptureChunk {
        collect(waiting: false, submit: submit)
        return chunks.pop()
    }

    /// Walks the chunk's records, sends it to every worker, and submits what is in order.
    /// Returns whether a stop was requested; a record the file cuts short is reported after the
    /// records before it went to the workers.
    private func dispatch(_ chunk: CaptureChunk, onTick: () -> Void, submit: ([DetectionEvent]) -> Void) throws(CaptureError) -> Bool {
        for worker in workers.indices {
            lists[worker] = spares[worker].popLast() ?? []
            lists[worker].reserveCapacity(Self.itemsPerChunk / workers.count)
        }
        // One pass: the records are walked and dealt out together.
        let (records, failure) = sharder.shard(chunk, firstIndex: index, into: &lists)
        if records > 0 {
            chunk.hold(workers.count)
            for (number, worker) in workers.enumerated() {
                let items = lists[number]
                lists[number] = []
                send(.batch(sequence: sequence, chunk: chunk, items: items), to: worker)
            }
            sequence += 1
            index &+= UInt64(records)
        }
        collect(waiting: false, submit: submit)
        onTick()
        if let failure { throw failure }
        return shouldStop()
    }

    /// One worker runs on the reader's thread: no queue, no copy, the same order of events.
    private var isInline: Bool { workers.count == 1 }

    private func send(_ order: WorkOrder, to worker: FlowWorker) {
        if isInline {
            worker.results.push(worker.handle(order))
        } else {
            worker.orders.push(order)
        }
    }

    /// Takes the workers' results that are there (or waits for one), and submits the events
    /// that are in order.
    private func collect(waiting: Bool, submit: ([DetectionEvent]) -> Void) {
        var took = false
        repeat {
            for (number, worker) in workers.enumerated() {
                while let result = worker.results.tryPop() {
                    took = true
                    if result.spare.capacity > 0 { spares[number].append(result.spare) }
                    let events = sequencer.take(result, from: number)
                    if !events.isEmpty { submit(events) }
                }
            }
            if waiting, !took { usleep(100) }
        } while waiting && !took
    }
}
