import Testing
@testable import PeerWatchCore

/// Collects what a reassembler delivers.
struct Delivered {
    var bytes: [UInt8] = []
    var gaps: [Int] = []
}

extension StreamReassembler {
    mutating func feed(_ sequence: UInt32, _ payload: [UInt8], flags: TCPFlags = .ack, into delivered: inout Delivered) {
        payload.withUnsafeBytes { raw in
            receive(sequence: sequence, flags: flags, payload: raw) { chunk in
                switch chunk {
                case .data(let bytes): delivered.bytes += bytes
                case .gap(let count): delivered.gaps.append(count)
                }
            }
        }
    }
}

@Suite struct StreamReassemblerTests {
    @Test func deliversInOrderAfterSYN() {
        var stream = StreamReassembler()
        var out = Delivered()
        stream.feed(999, [], flags: .syn, into: &out)
        stream.feed(1_000, [1, 2, 3], into: &out)
        stream.feed(1_003, [4, 5], into: &out)
        #expect(out.bytes == [1, 2, 3, 4, 5])
        #expect(stream.streamOffset == 5)
        #expect(!stream.startedMidStream)
    }

    @Test func reordersOutOfOrderSegments() {
        var stream = StreamReassembler()
        var out = Delivered()
        stream.feed(99, [], flags: .syn, into: &out)
        stream.feed(106, [7, 8], into: &out)
        stream.feed(103, [4, 5, 6], into: &out)
        #expect(out.bytes.isEmpty)
        #expect(stream.bufferedBytes == 5)
        stream.feed(100, [1, 2, 3], into: &out)
        #expect(out.bytes == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(stream.bufferedBytes == 0)
    }

    @Test func dropsRetransmissionsAndTrimsOverlapsFirstCopyWins() {
        var stream = StreamReassembler()
        var out = Delivered()
        stream.feed(0, [], flags: .syn, into: &out)
        stream.feed(1, [1, 2, 3, 4], into: &out)
        stream.feed(1, [1, 2, 3, 4], into: &out)          // exact retransmission
        stream.feed(3, [0xEE, 0xEE, 5, 6], into: &out)    // overlap with different old bytes
        stream.feed(8, [9], into: &out)                   // ahead
        stream.feed(8, [9], into: &out)                   // duplicate of a buffered segment
        stream.feed(7, [7, 8], into: &out)                // overlaps the buffered one
        #expect(out.bytes == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(stream.duplicateBytes == 4 + 2 + 1 + 1)
        #expect(stream.streamOffset == 8)
    }

    @Test func picksUpStreamsMidway() {
        var stream = StreamReassembler()
        var out = Delivered()
        stream.feed(5_000_000, [1, 2], into: &out)
        stream.feed(5_000_002, [3], into: &out)
        #expect(out.bytes == [1, 2, 3])
        #expect(stream.startedMidStream)
    }

    @Test func handlesSequenceWraparound() {
        var stream = StreamReassembler()
        var out = Delivered()
        stream.feed(UInt32.max - 2, [], flags: .syn, into: &out)
        stream.feed(UInt32.max - 1, [1, 2], into: &out)
        stream.feed(1, [4], into: &out)
        stream.feed(0, [3], into: &out)
        #expect(out.bytes == [1, 2, 3, 4])
    }

    @Test func declaresAGapWhenTheReorderBufferIsFull() {
        var stream = StreamReassembler()
        var out = Delivered()
        stream.feed(0, [], flags: .syn, into: &out)
        stream.feed(1, [1], into: &out)
        // Byte 2 is lost; more than maxBufferedSegments segments arrive after it.
        var sequence: UInt32 = 3
        for _ in 0 ... StreamReassembler.maxBufferedSegments {
            stream.feed(sequence, [0xAB], into: &out)
            sequence += 1
        }
        #expect(out.gaps == [1])
        #expect(out.bytes.count == 1 + StreamReassembler.maxBufferedSegments + 1)
        #expect(stream.gapCount == 1)
        #expect(stream.bufferedBytes == 0)
    }

    @Test func ignoresWildJumpsAndResets() {
        var stream = StreamReassembler()
        var out = Delivered()
        stream.feed(0, [], flags: .syn, into: &out)
        stream.feed(1 + StreamReassembler.maxSequenceJump + 10, [1], into: &out)
        stream.feed(1, [9], flags: .rst, into: &out)
        #expect(out.bytes.isEmpty)
        #expect(stream.bufferedBytes == 0)
    }

    @Test func flushPastGapsDeliversWhatIsBuffered() {
        var stream = StreamReassembler()
        var out = Delivered()
        stream.feed(0, [], flags: .syn, into: &out)
        stream.feed(11, [5, 6], into: &out)
        stream.flushPastGaps { chunk in
            switch chunk {
            case .data(let bytes): out.bytes += bytes
            case .gap(let count): out.gaps.append(count)
            }
        }
        #expect(out.gaps == [10])
        #expect(out.bytes == [5, 6])
    }
}
