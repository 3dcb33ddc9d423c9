import Foundation
import Testing
import PeerWatchCore
import PeerWatchTestSupport
@testable import PeerWatchRuntime

/// PeerWatch's own reader of classic pcap files against libpcap on the same files: every byte
/// order and timestamp precision, records cut by the snapshot length, records straddling chunk
/// boundaries, and files cut anywhere. The records and the errors must be libpcap's.
@Suite struct ClassicPcapReaderTests {
    struct Record: Equatable, CustomStringConvertible {
        var bytes: [UInt8]
        var wireLength: Int
        var microseconds: Int64
        var description: String { "\(bytes.count)/\(wireLength)@\(microseconds)" }
    }

    /// A classic pcap file written by hand: `swapped` writes big-endian, `nanoseconds` the
    /// nanosecond magic; each record is (captured bytes, wire length, seconds, fraction).
    static func file(_ records: [([UInt8], Int, UInt32, UInt32)], swapped: Bool, nanoseconds: Bool, snapshotLength: UInt32 = 262_144) -> [UInt8] {
        var out: [UInt8] = []
        func word(_ value: UInt32) { out += withUnsafeBytes(of: swapped ? value.bigEndian : value.littleEndian, Array.init) }
        func half(_ value: UInt16) { out += withUnsafeBytes(of: swapped ? value.bigEndian : value.littleEndian, Array.init) }
        word(nanoseconds ? 0xA1B2_3C4D : 0xA1B2_C3D4)
        half(2)
        half(4)
        word(0)
        word(0)
        word(snapshotLength)
        word(1)
        for (bytes, wire, seconds, fraction) in records {
            word(seconds)
            word(fraction)
            word(UInt32(bytes.count))
            word(UInt32(wire))
            out += bytes
        }
        return out
    }

    /// Records of random sizes (14 to 9,000 bytes, a few jumbo), enough to fill several chunks.
    static func records(count: Int, nanoseconds: Bool, seed: UInt64) -> [([UInt8], Int, UInt32, UInt32)] {
        var random = SeededGenerator(seed: seed)
        return (0 ..< count).map { n in
            let size = n % 97 == 0 ? 60_000 + Int(random.next() % 5_000) : 14 + Int(random.next() % 9_000)
            let fraction = UInt32(random.next() % (nanoseconds ? 1_000_000_000 : 1_000_000))
            let wire = size + Int(random.next() % 3) * 100
            return (random.bytes(size), wire, 1_800_000_000 + UInt32(n / 10), fraction)
        }
    }

    /// What libpcap reads: the records, then the error that ended it, if any.
    static func libpcap(_ path: String) throws -> ([Record], String?) {
        let handle = try PcapHandle.openFile(path)
        var records: [Record] = []
        while true {
            do {
                switch try handle.next() {
                case .packet(let bytes, let wireLength, let timestamp):
                    records.append(Record(bytes: Array(bytes), wireLength: wireLength, microseconds: timestamp.microseconds))
                case .timeout:
                    continue
                case .endOfFile:
                    return (records, nil)
                }
            } catch {
                return (records, error.message)
            }
        }
    }

    /// What PeerWatch's reader gives, through chunks of the smallest size, each filled after
    /// the one before (as the dispatched read does).
    static func chunked(_ path: String) throws -> ([Record], String?) {
        let reader = try #require(ClassicPcapReader.open(path))
        let chunks = [CaptureChunk(capacity: CaptureChunk.minimumCapacity), CaptureChunk(capacity: CaptureChunk.minimumCapacity)]
        var records: [Record] = []
        var previous: CaptureChunk?
        var turn = 0
        while true {
            let chunk = chunks[turn % 2]
            turn += 1
            guard try reader.fill(chunk, after: previous) else { return (records, nil) }
            var seen = 0
            let (count, failure) = chunk.forEachRecord { record in
                seen += 1
                records.append(Record(bytes: Array(record.bytes), wireLength: record.wireLength, microseconds: record.timestamp.microseconds))
            }
            #expect(seen == count)
            if let failure { return (records, failure.message) }
            previous = chunk
        }
    }

    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func recordsAreLibpcapsInEveryByteOrderAndPrecision(swapped: Bool, nanoseconds: Bool) throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("capture.pcap", Self.file(Self.records(count: 600, nanoseconds: nanoseconds, seed: 7), swapped: swapped, nanoseconds: nanoseconds))
        let expected = try Self.libpcap(path)
        #expect(expected.0.count == 600)
        #expect(expected.1 == nil)
        // Larger than three chunks: records straddle their boundaries.
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int ?? 0 > 3 * CaptureChunk.minimumCapacity)
        let found = try Self.chunked(path)
        #expect(found.0 == expected.0)
        #expect(found.1 == nil)
    }

    @Test func recordsLongerThanTheSnapshotLengthAreCutToIt() throws {
        let directory = try TemporaryDirectory()
        let records: [([UInt8], Int, UInt32, UInt32)] = [(Array(repeating: 0xAA, count: 300), 300, 1, 0), (Array(repeating: 0xBB, count: 90), 1_500, 2, 5),
                                                         (Array(repeating: 0xCC, count: 129), 129, 3, 9)]
        let path = try directory.write("snap.pcap", Self.file(records, swapped: false, nanoseconds: false, snapshotLength: 128))
        let expected = try Self.libpcap(path)
        #expect(expected.0.map(\.bytes.count) == [128, 90, 128])
        #expect(expected.0.map(\.wireLength) == [300, 1_500, 129])
        let found = try Self.chunked(path)
        #expect(found.0 == expected.0)
        #expect(found.1 == expected.1)
    }

    /// A file cut anywhere (inside the file header's end, a record header, a record body)
    /// gives the records before the cut and the error libpcap gives.
    @Test func aFileCutAnywhereEndsAsLibpcapEndsIt() throws {
        let directory = try TemporaryDirectory()
        let whole = Self.file(Self.records(count: 120, nanoseconds: false, seed: 11), swapped: false, nanoseconds: false)
        var random = SeededGenerator(seed: 3)
        var cuts = [24 + 5, 24 + 16 + 3, whole.count - 1, whole.count - 17]
        for _ in 0 ..< 12 { cuts.append(24 + Int(random.next() % UInt64(whole.count - 24))) }
        for cut in cuts {
            let path = try directory.write("cut-\(cut).pcap", Array(whole[..<cut]))
            let expected = try Self.libpcap(path)
            let found = try Self.chunked(path)
            #expect(found.0 == expected.0, "cut at \(cut)")
            // libpcap's message, after the file's name.
            #expect(found.1 == expected.1, "cut at \(cut)")
            #expect(found.1?.hasPrefix("\(path): truncated dump file; tried to read ") ?? true, "cut at \(cut)")
            #expect(expected.1 != nil || found.0.count == 120, "cut at \(cut)")
        }
    }

    /// A record header claiming more than libpcap's largest record stops the file, as libpcap does.
    @Test func anOversizedRecordIsRefused() throws {
        let directory = try TemporaryDirectory()
        var bytes = Self.file([(Array(repeating: 1, count: 60), 60, 1, 0)], swapped: false, nanoseconds: false)
        bytes += [2, 0, 0, 0, 0, 0, 0, 0] + withUnsafeBytes(of: UInt32(300_000).littleEndian, Array.init) + withUnsafeBytes(of: UInt32(300_000).littleEndian, Array.init)
        bytes += Array(repeating: 0, count: 1_000)
        let path = try directory.write("oversized.pcap", bytes)
        let expected = try Self.libpcap(path)
        let found = try Self.chunked(path)
        #expect(expected.0.count == 1)
        #expect(found.0 == expected.0)
        #expect(expected.1 != nil)
        #expect(found.1?.contains("invalid packet capture length 300000") == true, "\(found.1 ?? "no error")")
    }
}
