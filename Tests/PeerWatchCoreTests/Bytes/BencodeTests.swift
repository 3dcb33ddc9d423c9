import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

@Suite struct BencodeTests {
    func skip(_ text: String, depth: Int = Bencode.maxDepth) -> Result<Int, WireError> {
        Array(text.utf8).withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            do throws(WireError) {
                try Bencode.skipValue(&reader, depth: depth)
                return .success(reader.offset)
            } catch {
                return .failure(error)
            }
        }
    }

    @Test(arguments: [
        ("i42e", 4), ("i-7e", 4), ("i0e", 3), ("0:", 2), ("4:spam", 6), ("le", 2), ("de", 2),
        ("l4:spami42ee", 12), ("d3:bar4:spam3:fooi42ee", 22), ("d1:ad2:id2:xye1:q4:ping1:t2:aa1:y1:qe", 37),
        ("4:spamtrailing", 6),
    ])
    func validValuesAreSkippedExactly(text: String, length: Int) {
        #expect(skip(text) == .success(length))
    }

    @Test(arguments: [
        ("i-0e", WireError.malformed), ("i03e", .malformed), ("ie", .malformed), ("i1x", .malformed), ("i-e", .malformed),
        ("01:a", .malformed), ("x", .malformed), (":", .malformed), ("d i1e i2e e", .malformed), ("di1ei2ee", .malformed),
        ("i12345678901234567890e", .lengthOutOfRange(declared: 20, limit: 19)),
        // Outside Int64: refused, never wrapped (negating -2^63 used to trap).
        ("i9223372036854775808e", .malformed), ("i-9223372036854775809e", .malformed), ("i9999999999999999999e", .malformed),
        ("5:abc", .truncated), ("l", .truncated), ("d3:foo", .truncated), ("i42", .truncated), ("", .truncated),
        ("99999999999:", .lengthOutOfRange(declared: Int.max, limit: 1)),
    ])
    func malformedValuesAreRefused(text: String, error: WireError) {
        #expect(skip(text) == .failure(error))
    }

    @Test(arguments: [
        ("i9223372036854775807e", Int64.max), ("i-9223372036854775808e", Int64.min), ("i-9223372036854775807e", -Int64.max),
        ("i0e", 0), ("i-1e", -1), ("i1000000000000000000e", 1_000_000_000_000_000_000),
    ])
    func integersAtTheEdgesOfInt64AreRead(text: String, value: Int64) {
        let read = Array(text.utf8).withUnsafeBytes { raw -> Int64? in
            var reader = ByteReader(raw)
            return try? Bencode.readInteger(&reader)
        }
        #expect(read == value)
    }

    /// One DHT datagram carrying the most negative integer, as anyone on the network may send.
    @Test func aDHTDatagramWithTheMostNegativeIntegerDoesNotTrap() {
        let datagram = Array("d1:ad2:id20:abcdefghij01234567891:xi-9223372036854775808ee1:q4:ping1:t2:aa1:y1:qe".utf8)
        let message = datagram.withUnsafeBytes { try? BitTorrent.DHT.decode($0) }
        #expect(message != nil)
    }

    @Test func depthIsCappedAtTheLimitAndOnePast() {
        let atLimit = String(repeating: "l", count: 4) + String(repeating: "e", count: 4)
        #expect(skip(atLimit, depth: 4) == .success(8))
        let pastLimit = String(repeating: "l", count: 5) + String(repeating: "e", count: 5)
        #expect(skip(pastLimit, depth: 4) == .failure(.nestingTooDeep(limit: Bencode.maxDepth)))
        let hostile = String(repeating: "l", count: 100_000)
        #expect(skip(hostile) == .failure(.nestingTooDeep(limit: Bencode.maxDepth)))
    }

    @Test func dictionaryLookupsReturnBorrowedValues() throws {
        let bytes = Array("d4:infod6:lengthi12345e4:name5:a.mkve1:t2:xy5:valuel1:a1:bee".utf8)
        try bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            let dictionary = try Bencode.Dictionary(&reader)
            #expect(reader.isEmpty)
            #expect(dictionary.string("t").map { Array($0) } == Array("xy".utf8))
            #expect(dictionary.string("t")?.baseAddress == raw.baseAddress.map { $0 + 42 })
            let info = try #require(dictionary.dictionary("info"))
            #expect(info.integer("length") == 12_345)
            #expect(info.string("name").map { String(decoding: $0, as: UTF8.self) } == "a.mkv")
            #expect(dictionary.integer("t") == nil)
            #expect(dictionary.string("missing") == nil)
            var count = 0
            dictionary.list("value")?.forEach { _ in count += 1; return true }
            #expect(count == 2)
        }
    }

    @Test func everyPrefixFailsAndMutationsNeverTrap() {
        let good = Array("d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe".utf8)
        for length in 0 ..< good.count {
            let result: WireError? = Array(good.prefix(length)).withUnsafeBytes { raw in
                var reader = ByteReader(raw)
                do throws(WireError) { try Bencode.skipValue(&reader); return nil } catch { return error }
            }
            #expect(result != nil, "prefix \(length) decoded")
        }
        var random = SeededGenerator(seed: 5)
        for _ in 0 ..< 20_000 {
            var bytes = good
            for _ in 0 ..< 1 + Int(random.next() % 3) {
                bytes[Int(random.next() % UInt64(bytes.count))] = [UInt8(ascii: "d"), UInt8(ascii: "l"), UInt8(ascii: "e"), UInt8(ascii: "i"), UInt8(ascii: ":"), UInt8(ascii: "9"), UInt8(truncatingIfNeeded: random.next())][Int(random.next() % 7)]
            }
            bytes.withUnsafeBytes { raw in
                var reader = ByteReader(raw)
                if let dictionary = try? Bencode.Dictionary(&reader) {
                    _ = dictionary.dictionary("a")?.string("info_hash")
                    dictionary.forEach { _, _ in true }
                }
            }
        }
    }
}
