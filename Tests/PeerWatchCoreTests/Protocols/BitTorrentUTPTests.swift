import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

/// uTP packets for tests (BEP 29 header, optional selective-ack extension).
func utpPacket(_ type: UInt8, connection: UInt16, sequence: UInt16, ack: UInt16 = 0, payload: [UInt8] = [], selectiveAck: Bool = false) -> [UInt8] {
    var out: [UInt8] = [type << 4 | 1, selectiveAck ? 1 : 0, UInt8(connection >> 8), UInt8(connection & 0xFF)]
    out += [0, 0, 0, 1, 0, 0, 0, 2, 0, 0x10, 0, 0]
    out += [UInt8(sequence >> 8), UInt8(sequence & 0xFF), UInt8(ack >> 8), UInt8(ack & 0xFF)]
    if selectiveAck { out += [0, 4, 0xFF, 0, 0, 0] }
    return out + payload
}

@Suite struct BitTorrentUTPTests {
    func header(_ bytes: [UInt8]) -> BitTorrent.UTP.Header? { bytes.withUnsafeBytes { BitTorrent.UTP.Header($0) } }

    @Test func decodesHeadersAndExtensions() throws {
        let data = try #require(header(utpPacket(0, connection: 0x1234, sequence: 7, ack: 3, payload: [1, 2, 3], selectiveAck: true)))
        #expect(data.type == .data)
        #expect(data.connectionID == 0x1234)
        #expect(data.sequenceNumber == 7)
        #expect(data.acknowledgmentNumber == 3)
        #expect(data.payloadOffset == 26)
        #expect(header(utpPacket(4, connection: 1, sequence: 1))?.type == .syn)
        #expect(header(utpPacket(2, connection: 1, sequence: 1))?.type == .state)
    }

    @Test func refusesWhatIsNotUTP() {
        var badVersion = utpPacket(0, connection: 1, sequence: 1, payload: [1])
        badVersion[0] = 0x02
        #expect(header(badVersion) == nil)
        #expect(header(utpPacket(5, connection: 1, sequence: 1)) == nil)              // unknown type
        #expect(header(utpPacket(0, connection: 1, sequence: 1)) == nil)              // data without payload
        #expect(header(utpPacket(4, connection: 1, sequence: 1, payload: [9])) == nil) // SYN with payload
        var badExtension = utpPacket(0, connection: 1, sequence: 1, payload: [1, 2, 3, 4, 5, 6, 7, 8], selectiveAck: true)
        badExtension[21] = 3                                                            // ack mask not 4n
        #expect(header(badExtension) == nil)
        var looping = utpPacket(0, connection: 1, sequence: 1, payload: [UInt8](repeating: 1, count: 40))
        looping[1] = 2
        for index in stride(from: 20, to: 40, by: 2) { looping[index] = 2; looping[index + 1] = 0 }
        #expect(header(looping) == nil)                                                 // more extensions than allowed
        for length in 0 ..< 20 { #expect(header(Array(utpPacket(2, connection: 1, sequence: 1).prefix(length))) == nil) }
    }

    @Test func reassemblesDataInSequenceOrderAcrossWraparound() {
        var stream = BitTorrent.UTPStream()
        var out: [UInt8] = []
        func feed(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { raw in
                guard let h = BitTorrent.UTP.Header(raw) else { return }
                stream.receive(h, payload: UnsafeRawBufferPointer(rebasing: raw[h.payloadOffset...])) { chunk in
                    if case .data(let d) = chunk { out += d }
                }
            }
        }
        feed(utpPacket(4, connection: 9, sequence: 65_534))
        feed(utpPacket(0, connection: 10, sequence: 0, payload: [3]))
        feed(utpPacket(0, connection: 10, sequence: 65_535, payload: [1, 2]))
        feed(utpPacket(0, connection: 10, sequence: 65_535, payload: [1, 2]))   // duplicate
        feed(utpPacket(0, connection: 10, sequence: 1, payload: [4]))
        #expect(out == [1, 2, 3, 4])
    }

    @Test func declaresAGapWhenTooManyPacketsWaitBehindAHole() {
        var stream = BitTorrent.UTPStream()
        var data: [UInt8] = []
        var gaps = 0
        for sequence in [UInt16(10)] + Array(12 ... 12 + UInt16(BitTorrent.UTPStream.maxBufferedPackets)) {
            utpPacket(0, connection: 1, sequence: sequence, payload: [UInt8(truncatingIfNeeded: sequence)]).withUnsafeBytes { raw in
                guard let h = BitTorrent.UTP.Header(raw) else { return }
                stream.receive(h, payload: UnsafeRawBufferPointer(rebasing: raw[h.payloadOffset...])) { chunk in
                    switch chunk {
                    case .data(let d): data += d
                    case .gap: gaps += 1
                    }
                }
            }
        }
        #expect(gaps == 1)
        #expect(data.first == 10)
        #expect(data.count == 2 + BitTorrent.UTPStream.maxBufferedPackets)
    }

    @Test func randomDatagramsNeverTrap() {
        var random = SeededGenerator(seed: 29)
        var stream = BitTorrent.UTPStream()
        for _ in 0 ..< 50_000 {
            var bytes = random.bytes(Int(random.next() % 64))
            if bytes.count > 1, random.next() % 2 == 0 { bytes[0] = UInt8(random.next() % 5) << 4 | 1 }
            bytes.withUnsafeBytes { raw in
                if let h = BitTorrent.UTP.Header(raw) {
                    #expect(h.payloadOffset <= raw.count)
                    stream.receive(h, payload: UnsafeRawBufferPointer(rebasing: raw[h.payloadOffset...])) { _ in }
                }
            }
        }
    }
}
