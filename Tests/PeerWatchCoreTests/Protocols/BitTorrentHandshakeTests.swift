import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

@Suite struct BitTorrentHandshakeTests {
    // BEP 3 handshake from the ndpi-bittorrent.pcap corpus flow 192.168.1.3:52888 (frame 1).
    static let infoHash: [UInt8] = Hex.decode("dcfcdccfb9e670ccc3dd40c78c161f2bea243126") ?? []
    static let peerID: [UInt8] = Hex.decode("2d554d313836302d418e181ac9ba17987152663e") ?? []
    static let handshake: [UInt8] = [19] + Array("BitTorrent protocol".utf8) + [0, 0, 0, 0, 0, 0x10, 0, 0x04] + infoHash + peerID

    /// Runs a scanner over `chunks` and returns every handshake it reports.
    func scan(_ chunks: [[UInt8]]) -> [BitTorrent.Handshake] {
        var scanner = BitTorrent.HandshakeScanner()
        var found: [BitTorrent.Handshake] = []
        for chunk in chunks {
            chunk.withUnsafeBytes { raw in scanner.consume(.data(raw)) { handshake, _, _ in found.append(handshake) } }
        }
        return found
    }

    func chunked(_ bytes: [UInt8], size: Int) -> [[UInt8]] {
        stride(from: 0, to: bytes.count, by: size).map { Array(bytes[$0 ..< min(bytes.count, $0 + size)]) }
    }

    @Test func decodesInfoHashPeerIDAndClient() throws {
        var bytes = Self.handshake
        let handshake = try #require(bytes.withUnsafeBytes { raw -> BitTorrent.Handshake? in
            var reader = ByteReader(raw)
            return BitTorrent.Handshake.decode(&reader)
        })
        #expect(handshake.infoHash.hex == "dcfcdccfb9e670ccc3dd40c78c161f2bea243126")
        #expect(handshake.infoHash.kind == .btih)
        #expect(handshake.peerID?.description == "2d554d313836302d418e181ac9ba17987152663e")
        #expect(handshake.peerID?.azureusClientTag == "-UM1860-")
        #expect(handshake.supportsExtensionProtocol)
        bytes[20 + 5] = 0
        let plain = bytes.withUnsafeBytes { raw -> BitTorrent.Handshake? in
            var reader = ByteReader(raw)
            return BitTorrent.Handshake.decode(&reader)
        }
        #expect(plain?.supportsExtensionProtocol == false)
    }

    /// The same handshake comes out for every chunk size, one byte at a time included.
    @Test(arguments: 1 ... 69)
    func sameResultForEveryChunkSize(size: Int) {
        let found = scan(chunked(Self.handshake + [0, 0, 0, 1, 2], size: size))
        #expect(found.count == 1)
        #expect(found.first?.infoHash.hex == "dcfcdccfb9e670ccc3dd40c78c161f2bea243126")
        // The peer id is reported exactly when it arrived in the chunk that completed the infohash.
        let endOfCompletingChunk = min((47 / size + 1) * size, 73)
        let expectPeerID = endOfCompletingChunk >= 68
        #expect((found.first?.peerID != nil) == expectPeerID)
        if expectPeerID { #expect(found.first?.peerID?.description == "2d554d313836302d418e181ac9ba17987152663e") }
    }

    /// Every prefix short of the infohash's last byte reports nothing.
    @Test func everyShortPrefixReportsNothing() {
        for length in 0 ..< BitTorrent.Handshake.lengthThroughInfoHash {
            #expect(scan([Array(Self.handshake.prefix(length))]).isEmpty, "prefix \(length)")
        }
        #expect(scan([Array(Self.handshake.prefix(48))]).first?.peerID == nil)
        #expect(scan([Array(Self.handshake.prefix(48))]).count == 1)
    }

    @Test(arguments: [0, 18, 20, 0x93, 0xFF] as [UInt8])
    func wrongLengthByteIsNotAHandshake(lengthByte: UInt8) {
        var bytes = Self.handshake
        bytes[0] = lengthByte
        #expect(scan([bytes]).isEmpty)
    }

    @Test func otherProtocolNamesAreNotHandshakes() {
        var bytes = Self.handshake
        bytes[1] = UInt8(ascii: "b")  // "bitTorrent protocol"
        #expect(scan([bytes]).isEmpty)
        #expect(scan([Array(Self.handshake.prefix(19)) + [0] + Array(Self.handshake.dropFirst(20))]).isEmpty)
    }

    @Test func findsHandshakeAfterOtherBytesWithinTheBudget() {
        var random = SeededGenerator(seed: 7)
        // Bytes before the handshake, containing 0x13 and a partial prefix to force restarts.
        let noise = random.bytes(600) + [19, 66, 105, 116] + [19] + Array("BitTorrent protoco".utf8)
        let found = scan(chunked(noise + Self.handshake, size: 97))
        #expect(found.map(\.infoHash.hex) == ["dcfcdccfb9e670ccc3dd40c78c161f2bea243126"])
    }

    @Test func stopsLookingPastTheBudget() {
        let noise = [UInt8](repeating: 0x41, count: BitTorrent.HandshakeScanner.maxScanBytes)
        var scanner = BitTorrent.HandshakeScanner()
        var found = 0
        (noise + Self.handshake).withUnsafeBytes { raw in scanner.consume(.data(raw)) { _, _, _ in found += 1 } }
        #expect(found == 0)
        #expect(scanner.isFinished)
    }

    @Test func aGapInsideAHandshakeRestartsTheSearch() {
        var scanner = BitTorrent.HandshakeScanner()
        var found: [BitTorrent.Handshake] = []
        Array(Self.handshake.prefix(30)).withUnsafeBytes { raw in scanner.consume(.data(raw)) { handshake, _, _ in found.append(handshake) } }
        scanner.consume(.gap(count: 100)) { handshake, _, _ in found.append(handshake) }
        Array(Self.handshake.dropFirst(30)).withUnsafeBytes { raw in scanner.consume(.data(raw)) { handshake, _, _ in found.append(handshake) } }
        #expect(found.isEmpty)
        Self.handshake.withUnsafeBytes { raw in scanner.consume(.data(raw)) { handshake, _, _ in found.append(handshake) } }
        #expect(found.count == 1)
    }

    @Test func reportsOnlyOncePerDirection() {
        #expect(scan([Self.handshake, Self.handshake]).count == 1)
    }

    @Test func randomStreamsNeverTrap() {
        var random = SeededGenerator(seed: 99)
        for _ in 0 ..< 300 {
            var bytes = random.bytes(Int(random.next() % 300))
            if random.next() % 2 == 0 {
                // Splice in a corrupted handshake.
                var hs = Self.handshake
                hs[Int(random.next() % 68)] ^= UInt8(truncatingIfNeeded: random.next() | 1)
                bytes.insert(contentsOf: hs, at: bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count)))
            }
            let found = scan(chunked(bytes, size: 1 + Int(random.next() % 40)))
            #expect(found.count <= 1)
        }
    }
}
