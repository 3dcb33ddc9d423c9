import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

@Suite struct EDonkeyTests {
    static let client = Endpoint(address: IPAddress(ipv4: 0xC633_64E3), port: 1_754)
    static let peer = Endpoint(address: IPAddress(ipv4: 0xCB00_71F0), port: 7_551)
    static let start = Timestamp(seconds: 1_795_000_000, microseconds: 0)
    static let file = id(.ed2k, "31d6cfe0d16ae931b73c59d7e0c089c0")
    static let other = id(.ed2k, "0123456789abcdef0123456789abcdef")
    static let userHash = id(.ed2k, "1b42cd5b940ed779c20ab755fe256f97")

    func conversation(_ exchanges: [(fromClient: Bool, bytes: [UInt8])], segment: Int = 1_448) -> [Frame] {
        var tcp = TCPConversation(client: Self.client, server: Self.peer, start: Self.start)
        var frames = tcp.open()
        for exchange in exchanges { frames += tcp.send(fromClient: exchange.fromClient, exchange.bytes, segmentSize: segment) }
        return frames + tcp.close()
    }

    /// A client-to-client session: hellos, a file request and its answer, a part request, a
    /// part with its data, a packed file list.
    func session() -> [(fromClient: Bool, bytes: [UInt8])] {
        let hash = Self.file.digest
        let parts = Bytes.le(UInt64(0)) + Bytes.le(UInt64(0)) + Bytes.le(UInt64(0)) + Bytes.le(UInt64(10_240)) + Bytes.le(UInt64(0)) + Bytes.le(UInt64(0))
        return [
            (true, EDonkeyFixtures.hello(userHash: Self.userHash.digest, name: "aMule")),
            (false, EDonkeyFixtures.hello(userHash: [UInt8](repeating: 0x3A, count: 16), name: "eMule", answer: true)),
            (true, EDonkeyFixtures.frame(0xE3, 0x58, hash) + EDonkeyFixtures.frame(0xE3, 0x4F, hash)),
            (false, EDonkeyFixtures.frame(0xE3, 0x59, hash + Bytes.le(UInt16(9)) + Bytes.text("movie.avi"))),
            (true, EDonkeyFixtures.frame(0xC5, 0xA3, hash + parts)),
            (false, EDonkeyFixtures.frame(0xE3, 0x46, hash + Bytes.le(UInt32(0)) + Bytes.le(UInt32(10_240)) + [UInt8](repeating: 0x55, count: 10_240))),
            (false, EDonkeyFixtures.packed(0x4B, Bytes.le(UInt32(1)) + EDonkeyFixtures.fileEntry(hash: Self.other.digest, name: "shared.iso", size: 700_000))),
        ]
    }

    @Test(arguments: [1, 6, 64, 1_448])
    func aSessionsMessagesMatchForEverySegmentSize(segment: Int) throws {
        let (events, counters) = runEngine(conversation(session(), segment: segment), list: [Self.file, Self.other, Self.userHash])
        let alerts = EngineHarness.matches(events)
        // One match per identifier per flow: the first message naming each.
        #expect(alerts.map(\.observation.contentID) == [Self.file, Self.other])
        #expect(alerts.first?.observation.message == .edonkey(.fileRequest))
        #expect(alerts.first?.observation.role == .seeking)
        #expect(alerts.first?.observation.proto == .edonkey)
        #expect(alerts.last?.observation.message == .edonkey(.sharedFiles))
        #expect(alerts.last?.observation.context == .edonkey(EDonkey.Context(fileName: "shared.iso", fileSize: 700_000, client: "eMule (60)")))
        let end = try #require(EngineHarness.flowEnds(events).first)
        #expect(end.context == .edonkey({
            var fields = EDonkey.FlowEnd()
            fields.partBytesToClient = 10_240
            fields.initiatorClient = "aMule (60)"
            fields.responderClient = "eMule (60)"
            return fields
        }()))
        #expect(counters.observations == 6)
        #expect(counters.anomalies.reduce(0, +) == 0)
    }

    @Test func eachMessageKindIsReportedWithItsRole() throws {
        let hash = Self.file.digest
        let messages: [(UInt8, UInt8, [UInt8], EDonkey.Message, Role)] = [
            (0xE3, 0x58, hash, .fileRequest, .seeking), (0xE3, 0x51, hash, .fileRequest, .seeking), (0xC5, 0x92, hash + [0x58], .fileRequest, .seeking),
            (0xC5, 0xA4, hash + Bytes.le(UInt64(5)), .fileRequest, .seeking), (0xC5, 0x81, hash, .fileRequest, .seeking),
            (0xE3, 0x50, hash + [0, 0], .fileAnswer, .offering), (0xC5, 0x93, hash, .fileAnswer, .offering), (0xE3, 0x54, hash, .uploadRequest, .seeking),
            (0xE3, 0x47, hash + [UInt8](repeating: 0, count: 24), .requestParts, .seeking),
            (0xC5, 0x40, hash + Bytes.le(UInt32(0)) + Bytes.le(UInt32(3)) + [1, 2, 3], .sendingPart, .transferring),
            (0xC5, 0xA2, hash + Bytes.le(UInt64(0)) + Bytes.le(UInt64(3)) + [1, 2, 3], .sendingPart, .transferring),
            (0xE3, 0x19, hash + Bytes.le(UInt32(1_000)), .getSources, .seeking), (0xE3, 0x42, hash + [0], .foundSources, .offering),
            (0xE3, 0x15, Bytes.le(UInt32(1)) + EDonkeyFixtures.fileEntry(hash: hash, name: "x", size: 1), .offerFiles, .offering),
        ]
        for (proto, opcode, payload, message, role) in messages {
            let bytes = EDonkeyFixtures.hello(userHash: Self.userHash.digest, name: "aMule") + EDonkeyFixtures.frame(proto, opcode, payload)
            let alerts = EngineHarness.matches(runEngine(conversation([(true, bytes)]), list: [Self.file]).events)
            #expect(alerts.map(\.observation.message) == [.edonkey(message)], "opcode \(opcode)")
            #expect(alerts.first?.observation.role == role, "opcode \(opcode)")
        }
    }

    @Test func aServersSearchResultsAreOffersAndTheSearchItselfIsNot() {
        let login = EDonkeyFixtures.frame(0xE3, 0x01, Self.userHash.digest + Bytes.le(UInt32(0)) + Bytes.le(UInt16(4662)) + Bytes.le(UInt32(0)))
        let results = EDonkeyFixtures.frame(0xE3, 0x16, Bytes.le(UInt32(1)) + EDonkeyFixtures.fileEntry(hash: Self.file.digest, name: "found.avi", size: 9))
        let search = EDonkeyFixtures.frame(0xE3, 0x16, [0x01] + Bytes.le(UInt16(16)) + Self.other.digest)
        let alerts = EngineHarness.matches(runEngine(conversation([(true, login + search), (false, results)]), list: [Self.file, Self.other, Self.userHash]).events)
        #expect(alerts.map(\.observation.contentID) == [Self.file])
        #expect(alerts.first?.observation.message == .edonkey(.searchResult))
        #expect(alerts.first?.observation.context == .edonkey(EDonkey.Context(fileName: "found.avi", fileSize: 9)))
    }

    @Test(arguments: [UInt32(0), UInt32(4 * 1024 * 1024 + 1), UInt32.max])
    func aFrameLengthOutOfRangeIsAFramingViolation(length: UInt32) {
        let bytes = EDonkeyFixtures.hello(userHash: Self.userHash.digest, name: "aMule") + [0xE3] + Bytes.le(length) + [0x58] + Self.file.digest
        let (events, counters) = runEngine(conversation([(true, bytes)]), list: [Self.file])
        #expect(EngineHarness.matches(events).isEmpty)
        #expect(counters.anomalies(.framingViolation) == 1)
    }

    @Test func hostileFramesAreSafe() {
        let hash = Self.file.digest
        let cases: [[UInt8]] = [
            EDonkeyFixtures.frame(0xD4, 0x15, [0x78, 0x9C, 0xFF, 0xFF, 0x00]),                 // bad zlib
            EDonkeyFixtures.frame(0xE3, 0x15, Bytes.le(UInt32.max) + hash),                    // absurd count, one short entry
            EDonkeyFixtures.frame(0xE3, 0x01, [16] + hash + [0, 0, 0, 0, 0, 0] + Bytes.le(UInt32.max) + [0x99, 0x01]),   // bad tag type
            EDonkeyFixtures.frame(0xE3, 0x58, Array(hash.prefix(9))),                          // a short hash
            EDonkeyFixtures.frame(0xC5, 0xA9, [0x00] + hash),                                  // no hash in the identifier
        ]
        for bytes in cases {
            let (events, _) = runEngine(conversation([(true, EDonkeyFixtures.hello(userHash: Self.userHash.digest, name: "aMule") + bytes)]), list: [Self.file, Self.userHash])
            #expect(EngineHarness.matches(events).isEmpty)
        }
        // A name past the end: the hash is still there, the name is not.
        let answer = EDonkeyFixtures.frame(0xE3, 0x59, hash + Bytes.le(UInt16.max) + [0x41])
        let named = EngineHarness.matches(runEngine(conversation([(true, EDonkeyFixtures.hello(userHash: Self.userHash.digest, name: "aMule") + answer)]),
                                                    list: [Self.file]).events)
        #expect(named.map(\.observation.context) == [.edonkey(EDonkey.Context(client: "aMule (60)"))])
        // Every prefix of a good session.
        let whole = session().filter(\.fromClient).flatMap(\.bytes)
        for length in stride(from: 0, to: whole.count, by: 5) {
            let alerts = EngineHarness.matches(runEngine(conversation([(true, Array(whole.prefix(length)))]), list: [Self.file]).events)
            #expect(alerts.count <= 1)
        }
        // A packed frame inflating past the per-message cap is counted.
        var small = EngineConfiguration()
        small.decoderLimits.maxInflatedPerMessage = 1_024
        let bomb = EDonkeyFixtures.packed(0x15, Bytes.le(UInt32(1)) + [UInt8](repeating: 0, count: 100_000))
        #expect(runEngine(conversation([(true, EDonkeyFixtures.hello(userHash: Self.userHash.digest, name: "aMule") + bomb)]), list: [], configuration: small)
            .counters.anomalies(.inflateOverLimit) == 1)
    }

    func datagrams(_ payloads: [[UInt8]]) -> [Frame] {
        let us = Endpoint(address: IPAddress(ipv4: 0xC633_64E3), port: 4_672), them = Endpoint(address: IPAddress(ipv4: 0xCB00_71F0), port: 4_665)
        return payloads.enumerated().map { Frame(bytes: PacketBuilder.udp(from: us, to: them, payload: $1), timestamp: Timestamp(seconds: 1_795_000_000 + Int64($0), microseconds: 0)) }
    }

    @Test func kadSearchesAndPublishesNameTheFilesED2kHash() throws {
        let keyword = [UInt8](repeating: 0x77, count: 16)
        let frames = datagrams([
            EDonkeyFixtures.kadSearchSource(Self.file.digest, size: 734_003_200),
            EDonkeyFixtures.kadPublishKey(keyword: keyword, files: [(Self.other.digest, "movie.avi", 12_345)]),
            [0xE5, 0x43] + Deflate.zlib(Array(EDonkeyFixtures.kadPublishKey(keyword: keyword, files: [(Self.userHash.digest, "z", 1)]).dropFirst(2))),
        ])
        let alerts = EngineHarness.matches(runEngine(frames, list: [Self.file, Self.other, Self.userHash, id(.ed2k, Hex.encode(keyword))]).events)
        #expect(alerts.map(\.observation.contentID) == [Self.file, Self.other, Self.userHash])
        #expect(alerts.map(\.observation.message) == [.edonkey(.kadSearchSource), .edonkey(.kadPublishKey), .edonkey(.kadPublishKey)])
        #expect(alerts.map(\.observation.role) == [.seeking, .offering, .offering])
        #expect(alerts.allSatisfy { $0.observation.proto == .kad })
        #expect(alerts[0].observation.context == .edonkey(EDonkey.Context(fileSize: 734_003_200)))
        #expect(alerts[1].observation.context == .edonkey(EDonkey.Context(fileName: "movie.avi", fileSize: 12_345)))
    }

    @Test func eDonkeyDatagramsMatch() {
        let frames = datagrams([[0xC5, 0x90] + Self.file.digest, [0xE3, 0x9A] + Self.other.digest + Self.userHash.digest])
        let alerts = EngineHarness.matches(runEngine(frames, list: [Self.file, Self.other, Self.userHash]).events)
        #expect(alerts.map(\.observation.contentID) == [Self.file, Self.other, Self.userHash])
        #expect(alerts.map(\.observation.message) == [.edonkey(.reaskFile), .edonkey(.getSources), .edonkey(.getSources)])
    }

    @Test func randomDatagramsThatStartLikeKadAreNotKad() {
        let frames = datagrams([[0xE4, 0x34, 1, 2, 3], [0xE4, 0x60, 0], [0xE5, 0x43, 0x00, 0x01], [0xE3, 0x9A] + [UInt8](repeating: 1, count: 17)])
        let (events, counters) = runEngine(frames, list: [Self.file])
        #expect(EngineHarness.matches(events).isEmpty)
        #expect(counters.p2pFlows.reduce(0, +) == 0)
    }
}

@Suite struct EMuleObfuscationTests {
    typealias RC4 = EDonkey.Obfuscation.RC4

    @Test func rc4MatchesItsKnownAnswers() {
        // The classic test vectors (Key/Plaintext, Wiki/pedia), without the drop.
        var cipher = RC4(key: Bytes.text("Key"), drop: 0)
        var out: [UInt8] = []
        Bytes.text("Plaintext").withUnsafeBytes { cipher.apply($0, into: &out) }
        #expect(Hex.encode(out) == "bbf316e8d940af0ad3")
        var wiki = RC4(key: Bytes.text("Wiki"), drop: 0)
        Bytes.text("pedia").withUnsafeBytes { wiki.apply($0, into: &out) }
        #expect(Hex.encode(out) == "1021bf0420")
    }

    static func encrypt(_ cipher: inout RC4, _ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        bytes.withUnsafeBytes { cipher.apply($0, into: &out) }
        return out
    }

    /// A clear session tells the responder's user hash; a second, obfuscated one to the same
    /// client is read decrypted.
    @Test(arguments: [1, 13, 1_448])
    func anObfuscatedStreamToAClientSeenInClearIsRead(segment: Int) throws {
        let responderHash = [UInt8](repeating: 0x3A, count: 16)
        let file = EDonkeyTests.file
        var clear = TCPConversation(client: EDonkeyTests.client, server: Endpoint(address: EDonkeyTests.peer.address, port: 4_662), start: EDonkeyTests.start)
        var frames = clear.open()
        frames += clear.send(fromClient: true, EDonkeyFixtures.hello(userHash: EDonkeyTests.userHash.digest, name: "aMule"))
        // The answer's port field (4662) is where the responder listens.
        frames += clear.send(fromClient: false, EDonkeyFixtures.hello(userHash: responderHash, name: "eMule", answer: true))
        frames += clear.close()

        let keyPart: [UInt8] = [1, 2, 3, 4]
        var send = EDonkey.Obfuscation.key(userHash: responderHash, magic: 34, randomKeyPart: keyPart)
        var receive = EDonkey.Obfuscation.key(userHash: responderHash, magic: 203, randomKeyPart: keyPart)
        let opening: [UInt8] = [0x10] + keyPart + Self.encrypt(&send, Bytes.le(UInt32(0x835E_6FC4)) + [0, 0, 3, 9, 9, 9])
        let initiatorBytes = opening + Self.encrypt(&send, EDonkeyFixtures.hello(userHash: EDonkeyTests.userHash.digest, name: "aMule")
                                                        + EDonkeyFixtures.frame(0xE3, 0x58, file.digest))
        let responderBytes = Self.encrypt(&receive, Bytes.le(UInt32(0x835E_6FC4)) + [0, 1, 7]
                                              + EDonkeyFixtures.hello(userHash: responderHash, name: "eMule", answer: true)
                                              + EDonkeyFixtures.frame(0xE3, 0x59, file.digest + Bytes.le(UInt16(1)) + [0x41]))
        var hidden = TCPConversation(client: Endpoint(address: EDonkeyTests.client.address, port: 1_755), server: Endpoint(address: EDonkeyTests.peer.address, port: 4_662),
                                     start: Timestamp(seconds: 1_795_000_100, microseconds: 0))
        frames += hidden.open() + hidden.send(fromClient: true, initiatorBytes, segmentSize: max(segment, EDonkey.Obfuscation.initiatorHead + 3))
            + hidden.send(fromClient: false, responderBytes, segmentSize: segment) + hidden.close()
        let (events, counters) = runEngine(frames, list: [file, EDonkeyTests.userHash])
        let alerts = EngineHarness.matches(events)
        #expect(alerts.map(\.observation.contentID) == [file])
        #expect(alerts.first?.observation.message == .edonkey(.fileRequest))
        #expect(alerts.first?.source.port == 1_755)
        #expect(counters.likelyEncryptedFlows(.edonkey) == 1)
        let end = try #require(EngineHarness.flowEnds(events).first)
        guard case .edonkey(let fields) = end.context else { Issue.record("no eDonkey flow_end"); return }
        #expect(fields.obfuscated)
        #expect(fields.responderClient == "eMule (60)")
    }

    @Test func anObfuscatedStreamToAnUnknownClientIsNotRead() {
        var cipher = EDonkey.Obfuscation.key(userHash: [UInt8](repeating: 1, count: 16), magic: 34, randomKeyPart: [1, 2, 3, 4])
        let bytes: [UInt8] = [0x10, 1, 2, 3, 4] + Self.encrypt(&cipher, Bytes.le(UInt32(0x835E_6FC4)) + [0, 0, 0] + EDonkeyFixtures.frame(0xE3, 0x58, EDonkeyTests.file.digest))
        var tcp = TCPConversation(client: EDonkeyTests.client, server: EDonkeyTests.peer, start: EDonkeyTests.start)
        let (events, counters) = runEngine(tcp.open() + tcp.send(fromClient: true, bytes) + tcp.close(), list: [EDonkeyTests.file])
        #expect(EngineHarness.matches(events).isEmpty)
        #expect(counters.likelyEncryptedFlows(.edonkey) == 0)
    }
}
