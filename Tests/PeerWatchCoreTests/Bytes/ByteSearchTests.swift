import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

@Suite struct ByteSearchTests {
    @Test func findsEveryPositionAndAgreesWithALinearScan() {
        var random = SeededGenerator(seed: 11)
        for length in 0 ..< 70 {
            for _ in 0 ..< 20 {
                let bytes = random.bytes(length).map { $0 % 8 == 0 ? 19 : $0 | 0x20 }
                for start in [0, 1, 7, 8, 9, length] {
                    let expected = start < bytes.count ? bytes[start...].firstIndex(of: 19) : nil
                    let found = bytes.withUnsafeBytes { ByteSearch.firstIndex(of: 19, in: $0, from: start) }
                    #expect(found == expected, "length \(length) start \(start)")
                }
            }
        }
        #expect([UInt8]().withUnsafeBytes { ByteSearch.firstIndex(of: 0, in: $0) } == nil)
        #expect([UInt8](repeating: 0, count: 16).withUnsafeBytes { ByteSearch.firstIndex(of: 0, in: $0, from: -1) } == nil)
        // 0x80 bytes next to the target must not confuse the word test.
        let tricky: [UInt8] = [0x80, 0x93, 0x12, 0x14, 0x92, 0x13, 0x80, 0x80, 0x13]
        #expect(tricky.withUnsafeBytes { ByteSearch.firstIndex(of: 0x13, in: $0) } == 5)
    }
}

@Suite struct HandshakeRecognitionTests {
    @Test(arguments: [
        ([0x16, 0x03, 0x01, 0x02, 0x00, 0x01] as [UInt8], true),   // TLS ClientHello record
        ([0x17, 0x03, 0x03, 0x00, 0x20, 0xAA], true),              // TLS application data
        (Array("GET /announce?info_hash=x HTTP/1.1\r\n".utf8), true),
        (Array("HTTP/1.1 200 OK\r\n".utf8), true),
        ([19] + Array("BitTorrent protocol".utf8), false),
        ([0x16, 0x03, 0x09, 0x00, 0x00], false),
        ([0x16, 0x03], false),
        ([0x9A, 0x11, 0x03, 0x77, 0x02, 0x00], false),             // looks random, as MSE's key exchange does
    ])
    func directionsOpeningWithAnotherProtocolAreNotScanned(bytes: [UInt8], expected: Bool) {
        #expect(bytes.withUnsafeBytes { BitTorrent.HandshakeScanner.opensAnotherProtocol($0) } == expected)
    }

    @Test func aTLSStreamIsNotScannedButAStreamPickedUpLaterIs() {
        let handshake = BitTorrentHandshakeTests.handshake
        var scanner = BitTorrent.HandshakeScanner()
        var found = 0
        ([0x16, 0x03, 0x01, 0x00, 0x10] + handshake).withUnsafeBytes { raw in scanner.consume(.data(raw)) { _, _, _ in found += 1 } }
        #expect(found == 0)
        #expect(scanner.isFinished)
        var other = BitTorrent.HandshakeScanner()
        ([0x01, 0x16, 0x03, 0x01, 0x00, 0x10] + handshake).withUnsafeBytes { raw in other.consume(.data(raw)) { _, _, _ in found += 1 } }
        #expect(found == 1)
    }
}
