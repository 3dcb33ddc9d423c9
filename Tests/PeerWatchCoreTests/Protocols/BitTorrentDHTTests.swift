import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

@Suite struct BitTorrentDHTTests {
    // BEP 5's examples, with the readable ids suricata-verify's DHT capture uses.
    static let getPeers = "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe"
    static let announce = "d1:ad2:id20:abcdefghij012345678912:implied_porti1e9:info_hash20:mnopqrstuvwxyz1234564:porti6881e5:token8:aoeusnthe1:q13:announce_peer1:t2:aa1:y1:qe"
    static let peersResponse = "d1:rd2:id20:abcdefghij01234567895:token8:aoeusnth6:valuesl6:axje.u6:idhtnmee1:t2:aa1:y1:re"
    static let findNodeReplyQFirst = "d1:q9:find_node1:rd2:id20:0123456789abcdefghij5:nodes0:e1:t2:aa1:y1:re"
    static let samples = "d1:rd2:id20:abcdefghij01234567898:intervali21600e3:numi50e7:samples40:mnopqrstuvwxyz12345601234567890123456789e1:t2:ab1:y1:re"

    func decode(_ text: String) -> Result<BitTorrent.DHT.Message, WireError> {
        Array(text.utf8).withUnsafeBytes { raw in
            do throws(WireError) { return .success(try BitTorrent.DHT.decode(raw)) } catch { return .failure(error) }
        }
    }

    func hex(_ text: String) -> String { Hex.encode(Array(text.utf8)) }

    @Test func getPeersQueryCarriesTheInfoHash() throws {
        let message = try decode(Self.getPeers).get()
        #expect(message.kind == .query(.getPeers))
        #expect(message.infoHash?.hex == hex("mnopqrstuvwxyz123456"))
        #expect(message.transactionID == Array("aa".utf8).withUnsafeBytes { BitTorrent.DHT.TransactionID($0) })
    }

    @Test func announcePeerCarriesPortAndImpliedPort() throws {
        let message = try decode(Self.announce).get()
        #expect(message.kind == .query(.announcePeer))
        #expect(message.infoHash?.hex == hex("mnopqrstuvwxyz123456"))
        #expect(message.port == 6881)
        #expect(message.impliedPort)
    }

    @Test func responsesCountValuesAndCarryNoInfoHash() throws {
        let message = try decode(Self.peersResponse).get()
        #expect(message.kind == .response)
        #expect(message.valueCount == 2)
        #expect(message.infoHash == nil)
        let odd = try decode(Self.findNodeReplyQFirst).get()
        #expect(odd.kind == .response)
        #expect(odd.infoHash == nil)
    }

    @Test func sampleInfohashesResponseHandsOverTheSamples() throws {
        let message = try decode(Self.samples).get()
        let samples = try #require(message.samples)
        #expect(samples.count == 40)
    }

    @Test(arguments: [
        "d1:ad2:id20:abcdefghij01234567899:info_hash19:mnopqrstuvwxyz12345e1:q9:get_peers1:t2:aa1:y1:qe",   // short hash
        "d1:ad2:id19:abcdefghij0123456789:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:qe",   // short node id
        "d1:ad2:id20:abcdefghij0123456789e1:q9:get_peers1:t2:aa1:y1:qe",                                     // no info_hash
        "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:y1:qe",          // no t
        "d1:ad2:id20:abcdefghij01234567899:info_hash20:mnopqrstuvwxyz123456e1:q9:get_peers1:t2:aa1:y1:xe",   // y=x
        "d1:rd2:id20:abcdefghij0123456789e1:t2:aa1:y1:ree",                                                   // trailing byte
        "l1:ae",
    ])
    func malformedMessagesAreRefused(text: String) {
        if case .success = decode(text) { Issue.record("decoded: \(text)") }
    }

    @Test func everyPrefixIsRefusedAndMutationsNeverTrap() {
        for text in [Self.getPeers, Self.announce, Self.peersResponse, Self.samples] {
            let bytes = Array(text.utf8)
            for length in 0 ..< bytes.count {
                let ok = Array(bytes.prefix(length)).withUnsafeBytes { (try? BitTorrent.DHT.decode($0)) != nil }
                #expect(!ok, "prefix \(length) of \(text)")
            }
        }
        var random = SeededGenerator(seed: 77)
        let good = Array(Self.announce.utf8)
        for _ in 0 ..< 20_000 {
            var bytes = good
            bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next())
            if random.next() % 3 == 0 { bytes = Array(bytes.prefix(Int(random.next() % UInt64(bytes.count)))) + [UInt8(ascii: "e")] }
            _ = bytes.withUnsafeBytes { try? BitTorrent.DHT.decode($0) }
        }
    }
}
