import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

/// The shared framer of length-prefixed messages, with a test format: a 2-byte big-endian
/// length, a kind byte, then the body; kind 1 messages are delivered by their first 4 bytes.
@Suite struct MessageAssemblerTests {
    static func frame(_ bytes: UnsafeRawBufferPointer) -> MessageAssembler.Frame {
        guard bytes.count >= 3 else { return .needMore }
        let length = Int(bytes[0]) << 8 | Int(bytes[1])
        guard length >= 1, length <= 1_000 else { return .invalid(.lengthOutOfRange(declared: length, limit: 1_000)) }
        return .message(length: 2 + length, keep: bytes[2] == 1 ? min(2 + length, 4) : 2 + length)
    }

    static func message(kind: UInt8, body: [UInt8]) -> [UInt8] {
        Bytes.be(UInt16(body.count + 1)) + [kind] + body
    }

    static let stream = message(kind: 0, body: Array(0 ..< 40)) + message(kind: 1, body: [UInt8](repeating: 9, count: 300)) + message(kind: 0, body: [7])
        + message(kind: 1, body: [5]) + message(kind: 0, body: Array(repeating: 3, count: 999))

    func run(_ chunks: [[UInt8]]) -> (heads: [[UInt8]], lengths: [Int], status: DecodeStatus, skipped: Int64) {
        var assembler = MessageAssembler(maxHeld: 1_002)
        var heads: [[UInt8]] = [], lengths: [Int] = []
        var status = DecodeStatus.more
        for chunk in chunks where status == .more {
            status = chunk.withUnsafeBytes { raw in
                assembler.feed(raw, frame: Self.frame) { head, length in
                    heads.append(Array(head))
                    lengths.append(length)
                    return true
                }
            }
        }
        return (heads, lengths, status, assembler.bytesSkipped)
    }

    @Test func theSameMessagesComeOutForEveryChunkSize() {
        let whole = run([Self.stream])
        #expect(whole.lengths == [43, 303, 4, 4, 1_002])
        #expect(whole.heads.map(\.count) == [43, 4, 4, 4, 1_002])
        #expect(whole.skipped == 299)
        for size in 1 ... 64 {
            let chunks = stride(from: 0, to: Self.stream.count, by: size).map { Array(Self.stream[$0 ..< min(Self.stream.count, $0 + size)]) }
            let result = run(chunks)
            #expect(result.heads == whole.heads, "chunk size \(size)")
            #expect(result.lengths == whole.lengths)
            #expect(result.status == .more)
            #expect(result.skipped == 299)
        }
    }

    @Test func everyPrefixGivesWholeMessagesOnly() {
        let whole = run([Self.stream]).heads
        for length in 0 ..< Self.stream.count {
            let heads = run([Array(Self.stream.prefix(length))]).heads
            #expect(Array(whole.prefix(heads.count)) == heads, "prefix \(length)")
        }
    }

    @Test(arguments: [0, 1_001, 0xFFFF])
    func hostileLengthsAreViolations(length: Int) {
        let bytes = Self.message(kind: 0, body: [1, 2]) + Bytes.be(UInt16(length)) + [0, 1, 2, 3]
        let result = run([bytes])
        #expect(result.heads.count == 1)
        #expect(result.status == .violation(.lengthOutOfRange(declared: length, limit: 1_000)))
    }

    @Test func aMessageAtTheCapIsHeldAcrossChunksAndOnePastIsRefused() {
        let atCap = Self.message(kind: 0, body: Array(repeating: 1, count: 999))
        #expect(run(atCap.map { [$0] }).heads == [atCap])
        var small = MessageAssembler(maxHeld: 10)
        let status = atCap.withUnsafeBytes { raw in
            small.feed(UnsafeRawBufferPointer(rebasing: raw[0 ..< 11]), frame: Self.frame) { _, _ in true }
        }
        #expect(status == .violation(.lengthOutOfRange(declared: 11, limit: 10)))
    }
}
