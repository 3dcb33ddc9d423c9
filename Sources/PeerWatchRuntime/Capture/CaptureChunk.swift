import CPcap
import PeerWatchCore
import Synchronization

/// A buffer of whole capture records in classic pcap record format (16-byte header, then the
/// captured bytes): filled from a classic pcap file by `ClassicPcapReader` (as the file has
/// them), or from libpcap (pcapng, pipes) by copying each packet in. Workers read packets as
/// views into it; it goes back to its pool when the last of them is done.
final class CaptureChunk: @unchecked Sendable {
    /// The chunk's bytes (owned; freed with the chunk).
    let storage: UnsafeMutableRawBufferPointer
    /// Bytes in use at the start of `storage`: whole records, then perhaps the start of one.
    private(set) var used = 0
    /// Where the record cut at the end starts (once walked).
    private var carryStart = 0
    /// Whether nothing follows the chunk: a record cut at its end is a truncated file.
    private var isFinal = true
    /// How the records are written, and the file they come from (for messages).
    private(set) var swapped = false
    private(set) var nanoseconds = false
    private(set) var snapshotLength = ClassicPcapReader.maxRecordLength
    private var source = ""
    /// The link type of the records' file.
    var link = LinkType.ethernet
    /// Holders still reading it; at zero it is free.
    private let holders = Atomic<Int>(0)

    /// The smallest chunk: two of the largest records.
    static let minimumCapacity = ClassicPcapReader.maxRecordLength * 2

    init(capacity: Int) {
        storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(capacity, Self.minimumCapacity), alignment: 16)
    }

    deinit { storage.deallocate() }

    /// The bytes in use (packets are views into them by offset).
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[0 ..< used]) }

    /// The bytes of the record cut at the end (after `forEachRecord`).
    var carriedBytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: storage[carryStart ..< used]) }

    func reset(swapped: Bool, nanoseconds: Bool, snapshotLength: Int, source: String) {
        self.swapped = swapped
        self.nanoseconds = nanoseconds
        self.snapshotLength = snapshotLength
        self.source = source
        used = 0
        carryStart = 0
        isFinal = true
    }

    func set(used: Int, isFinal: Bool) {
        self.used = used
        self.isFinal = isFinal
        carryStart = used
    }

    /// Room left for appended records.
    var room: Int { storage.count - used }

    /// Appends one packet as a record (native byte order, microseconds). The caller checks `room`.
    func append(_ packet: UnsafeRawBufferPointer, wireLength: Int, timestamp: Timestamp) {
        guard let base = storage.baseAddress else { return }
        let seconds = timestamp.microseconds / 1_000_000, micros = timestamp.microseconds % 1_000_000
        let header = base + used
        header.storeBytes(of: UInt32(truncatingIfNeeded: seconds).littleEndian, toByteOffset: 0, as: UInt32.self)
        header.storeBytes(of: UInt32(truncatingIfNeeded: micros).littleEndian, toByteOffset: 4, as: UInt32.self)
        header.storeBytes(of: UInt32(truncatingIfNeeded: packet.count).littleEndian, toByteOffset: 8, as: UInt32.self)
        header.storeBytes(of: UInt32(truncatingIfNeeded: wireLength).littleEndian, toByteOffset: 12, as: UInt32.self)
        if let source = packet.baseAddress, !packet.isEmpty { (header + 16).copyMemory(from: source, byteCount: packet.count) }
        used += 16 + packet.count
        carryStart = used
    }

    /// Takes `count` holds (the workers a batch went to, and the reader).
    func hold(_ count: Int) { holders.add(count, ordering: .relaxed) }

    /// Lets go of one hold; returns whether it was the last.
    func release() -> Bool { holders.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 }

    /// One record.
    struct Record {
        /// The captured bytes (cut to the file's snapshot length).
        var bytes: UnsafeRawBufferPointer
        var wireLength: Int
        var timestamp: Timestamp
        /// Where the bytes start in the chunk.
        var offset: Int
    }

    /// Calls `body` with each whole record, in order, in one pass over the chunk; notes where a
    /// record cut at the end starts (for the next fill); returns how many records there were.
    /// If nothing follows the chunk, a cut record is the failure libpcap reports for it, as is a
    /// record longer than libpcap accepts; the whole records before it have been handed out.
    @inline(__always)
    func forEachRecord(_ body: (Record) -> Void) -> (records: Int, failure: CaptureError?) {
        let bytes = self.bytes
        var offset = 0, count = 0
        while true {
            let remaining = bytes.count - offset
            guard remaining >= 16 else {
                carryStart = offset
                if isFinal, remaining > 0 {
                    return (count, CaptureError("\(source): truncated dump file; tried to read 16 header bytes, only got \(remaining)"))
                }
                return (count, nil)
            }
            let captured = Int(Self.word(bytes, offset + 8, swapped: swapped))
            if captured > ClassicPcapReader.maxRecordLength {
                carryStart = offset
                return (count, CaptureError("\(source): invalid packet capture length \(captured), bigger than maximum of \(ClassicPcapReader.maxRecordLength)"))
            }
            let start = offset + 16
            guard remaining >= 16 + captured else {
                carryStart = offset
                if isFinal {
                    return (count, CaptureError("\(source): truncated dump file; tried to read \(captured) captured bytes, only got \(remaining - 16)"))
                }
                return (count, nil)
            }
            let seconds = Int64(Self.word(bytes, offset, swapped: swapped))
            let fraction = Int64(Self.word(bytes, offset + 4, swapped: swapped))
            let wire = Int(Self.word(bytes, offset + 12, swapped: swapped))
            let kept = min(captured, snapshotLength)
            body(Record(bytes: UnsafeRawBufferPointer(rebasing: bytes[start ..< start + kept]), wireLength: wire,
                        timestamp: Timestamp(seconds: seconds, microseconds: nanoseconds ? fraction / 1_000 : fraction), offset: start))
            offset = start + captured
            count += 1
        }
    }

    /// The packet bytes at `offset`, `count` long.
    @inline(__always)
    func bytes(at offset: Int, count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + count])
    }

    @inline(__always)
    static func word(_ bytes: UnsafeRawBufferPointer, _ offset: Int, swapped: Bool) -> UInt32 {
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return swapped ? value.byteSwapped : UInt32(littleEndian: value)
    }
}
