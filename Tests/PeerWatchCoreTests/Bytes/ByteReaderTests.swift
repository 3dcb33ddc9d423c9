import Testing
@testable import PeerWatchCore

@Suite struct ByteReaderTests {
    let bytes: [UInt8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09]

    @Test func readsBigEndianIntegersAndAdvances() {
        bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(reader.readInteger(as: UInt16.self) == 0x0102)
            #expect(reader.readInteger(as: UInt32.self) == 0x0304_0506)
            #expect(reader.offset == 6)
            #expect(reader.remaining == 3)
        }
    }

    @Test func failedReadLeavesCursorInPlace() {
        bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            let moved1 = reader.skip(7)
            #expect(moved1)
            #expect(reader.readInteger(as: UInt32.self) == nil)
            #expect(reader.offset == 7)
            let moved2 = reader.skip(3)
            #expect(!moved2)
            #expect(reader.readBytes(count: 3) == nil)
            #expect(reader.readInteger(as: UInt16.self) == 0x0809)
            #expect(reader.readByte() == nil)
            #expect(reader.isEmpty)
        }
    }

    @Test func peekDoesNotMoveAndRejectsNegativeOrHugeOffsets() {
        bytes.withUnsafeBytes { raw in
            let reader = ByteReader(raw)
            #expect(reader.peekInteger(as: UInt16.self, at: 7) == 0x0809)
            #expect(reader.peekInteger(as: UInt16.self, at: 8) == nil)
            #expect(reader.peekInteger(as: UInt16.self, at: -1) == nil)
            #expect(reader.peekInteger(as: UInt16.self, at: Int.max) == nil)
            #expect(reader.peekByte(at: Int.max) == nil)
            #expect(reader.peekBytes(count: Int.max, at: 1) == nil)
            #expect(reader.peekBytes(count: -1) == nil)
            #expect(reader.offset == 0)
        }
    }

    @Test func subReaderSharesMemoryAndIsBounded() {
        bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            reader.skip(2)
            guard var sub = reader.readReader(count: 3) else { Issue.record("no sub-reader"); return }
            #expect(sub.remaining == 3)
            #expect(sub.readByte() == 0x03)
            #expect(sub.readInteger(as: UInt16.self) == 0x0405)
            #expect(sub.readByte() == nil)
            #expect(reader.peekByte() == 0x06)
            #expect(sub.base.baseAddress == raw.baseAddress.map { $0 + 2 })
        }
    }

    @Test func truncateKeepsAbsoluteOffsets() {
        bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            reader.skip(2)
            let moved3 = reader.truncate(toRemaining: 4)
            #expect(moved3)
            #expect(reader.offset == 2)
            #expect(reader.remaining == 4)
            let moved4 = reader.truncate(toRemaining: 5)
            #expect(!moved4)
            #expect(Array(reader.remainingBytes) == [0x03, 0x04, 0x05, 0x06])
        }
    }

    @Test func startsWithComparesOnlyWhatRemains() {
        bytes.withUnsafeBytes { raw in
            var reader = ByteReader(raw)
            #expect(reader.starts(with: [0x01, 0x02]))
            reader.skip(8)
            #expect(reader.starts(with: [0x09]))
            #expect(!reader.starts(with: [0x09, 0x0A]))
        }
    }

    @Test func emptyBufferIsSafe() {
        var reader = ByteReader(UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(reader.readByte() == nil)
        #expect(reader.readInteger(as: UInt64.self) == nil)
        #expect(reader.remainingBytes.isEmpty)
    }
}

@Suite struct HexAndBase32Tests {
    @Test func hexRoundTrip() {
        #expect(Hex.encode([0x00, 0xAB, 0xFF]) == "00abff")
        #expect(Hex.decode("00ABff") == [0x00, 0xAB, 0xFF])
        #expect(Hex.decode("abc") == nil)
        #expect(Hex.decode("zz") == nil)
        #expect(Hex.decode("") == [])
    }

    @Test func base32DecodesSHA1URN() {
        // urn:sha1 of the empty file (RFC 3174 SHA-1 of ""), base32.
        let decoded = Base32.decode("3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ", byteCount: 20)
        #expect(decoded.map { Hex.encode($0) } == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(Base32.encode(decoded ?? []) == "3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ")
        #expect(Base32.decode("3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBY", byteCount: 20) == nil)
        #expect(Base32.decode("3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBY1", byteCount: 20) == nil)
    }
}
