import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

/// Runs frames through an engine and returns the events and the counters.
func runEngine(_ frames: [Frame], list: [ContentID], configuration: EngineConfiguration = EngineConfiguration()) -> (events: [DetectionEvent], counters: EngineCounters) {
    var engine = DetectionEngine(configuration: configuration, watchList: EngineHarness.watchList(list))
    var events: [DetectionEvent] = []
    for frame in frames {
        frame.bytes.withUnsafeBytes { engine.process(frame: $0, wireLength: frame.wireLength, timestamp: frame.timestamp, link: .ethernet, events: &events) }
    }
    engine.finish(events: &events)
    return (events, engine.counters)
}

/// A content id from hex, for fixtures (the tests' own constants).
func id(_ kind: ContentID.Kind, _ hex: String) -> ContentID {
    guard let id = ContentID(kind: kind, hex: hex) else { fatalError("bad fixture id \(hex)") }
    return id
}

@Suite struct GnutellaTests {
    static let leaf = Endpoint(address: IPAddress(ipv4: 0xC633_640F), port: 50_248)
    static let peer = Endpoint(address: IPAddress(ipv4: 0xCB00_71D8), port: 6_346)
    static let start = Timestamp(seconds: 1_795_000_000, microseconds: 0)

    // The identifiers of one file, as a Shareaza hit names them (from ndpi-gnutella.pcap).
    static let bitprint = "urn:bitprint:LXIP2A72T5H3BU3GRUMZFYNU3OYDK6FI.3WMUS6WM2ZC7XIPRQDKXWHHJRV4IKYC4OX4ELCA"
    static let ed2k = id(.ed2k, "ba105db3d9d8f84af369c14d3e42ba00")
    static let md5 = id(.md5, "063e5b524d13a12a01f029b7854d888c")
    static let btih = id(.btih, "4c9b41d664d7b6b23f0bf39ae185858cbadda3ff")
    static let ggepSHA1 = id(.sha1, "00112233445566778899aabbccddeeff00112233")

    static var bitprintSHA1: ContentID { id(.sha1, Hex.encode(Base32.decode("LXIP2A72T5H3BU3GRUMZFYNU3OYDK6FI", byteCount: 20) ?? [])) }
    static var bitprintTTH: ContentID { id(.tth, Hex.encode(Base32.decode("3WMUS6WM2ZC7XIPRQDKXWHHJRV4IKYC4OX4ELCA", byteCount: 24) ?? [])) }

    /// A query hit naming one file five ways, and a second file by GGEP H alone.
    static func hitDescriptor() -> [UInt8] {
        let first = GnutellaFixtures.Hit(size: 3_234_212, name: "Hero (Spiderman soundtrack).mp3",
                                         extensions: GnutellaFixtures.huge([bitprint, "urn:ed2khash:ba105db3d9d8f84af369c14d3e42ba00",
                                                                            "urn:md5:063e5b524d13a12a01f029b7854d888c", "urn:btih:JSNUDVTE263LEPYL6ONODBMFRS5N3I77"])
                                             + [0x1C] + GnutellaFixtures.ggep([("CT", [1, 2, 3, 0]), ("ALT", [0, 0, 0])]))
        let second = GnutellaFixtures.Hit(index: 2, size: 7, name: "b.txt", extensions: GnutellaFixtures.ggep([("H", [1] + (ggepSHA1.digest))]))
        return GnutellaFixtures.descriptor(type: 0x81, payload: GnutellaFixtures.queryHit([first, second]))
    }

    static var listed: [ContentID] { [bitprintSHA1, bitprintTTH, ed2k, md5, btih, ggepSHA1] }

    /// A link: handshake both ways, then `fromPeer` (the responder's descriptors), deflated or not.
    func link(_ fromPeer: [UInt8], deflate: Bool, g2: Bool = false, segment: Int = 1_448) -> [Frame] {
        wire(deflate ? Deflate.zlib(fromPeer) : fromPeer, deflate: deflate, g2: g2, segment: segment)
    }

    /// A link whose responder sends `peerWire` as it is after its handshake.
    func wire(_ peerWire: [UInt8], deflate: Bool, g2: Bool = false, segment: Int = 1_448) -> [Frame] {
        let (connect, final, answer) = GnutellaFixtures.handshake(deflate: deflate, g2: g2)
        var tcp = TCPConversation(client: Self.leaf, server: Self.peer, start: Self.start)
        var frames = tcp.open()
        frames += tcp.send(fromClient: true, connect, segmentSize: segment)
        frames += tcp.send(fromClient: false, answer + peerWire, segmentSize: segment)
        frames += tcp.send(fromClient: true, final + (deflate ? Deflate.zlib([]) : []), segmentSize: segment)
        return frames + tcp.close()
    }

    @Test(arguments: [1, 3, 23, 100, 536, 1_448])
    func aDeflatedLinksQueryHitsMatchForEverySegmentSize(segment: Int) throws {
        let (events, counters) = runEngine(link(Self.hitDescriptor(), deflate: true, segment: segment), list: Self.listed)
        let alerts = EngineHarness.matches(events)
        #expect(Set(alerts.map(\.observation.contentID)) == Set(Self.listed))
        #expect(alerts.count == 6)
        #expect(alerts.allSatisfy { $0.observation.proto == .gnutella && $0.observation.message == .gnutella(.queryHit) && $0.observation.role == .offering })
        #expect(alerts.allSatisfy { $0.direction == .toClient && $0.source == Self.peer })
        let first = try #require(alerts.first { $0.observation.contentID == Self.ed2k })
        guard case .gnutella(let context) = first.observation.context else { Issue.record("no Gnutella context"); return }
        #expect(context.fileName == "Hero (Spiderman soundtrack).mp3")
        #expect(context.fileSize == 3_234_212)
        #expect(context.client == "RAZA")
        let end = try #require(EngineHarness.flowEnds(events).first)
        guard case .gnutella(let fields) = end.context else { Issue.record("no Gnutella flow_end"); return }
        #expect(fields.initiatorClient == "gtk-gnutella/1.2.2")
        #expect(fields.responderClient == "Shareaza 2.7.10.2")
        #expect(fields.deflatedToClient && fields.deflatedToServer)
        #expect(fields.linkBytesToClient == Int64(Self.hitDescriptor().count))
        #expect(counters.anomalies.reduce(0, +) == 0)
    }

    @Test func aPlainLinkAndAQueryByURNMatch() throws {
        let query = GnutellaFixtures.descriptor(type: 0x80, payload: GnutellaFixtures.query("\\", extensions: Bytes.text("urn:sha1:LXIP2A72T5H3BU3GRUMZFYNU3OYDK6FI")))
        let alerts = EngineHarness.matches(runEngine(link(query + Self.hitDescriptor(), deflate: false), list: Self.listed).events)
        #expect(alerts.count == 6)
        let seeking = alerts.filter { $0.observation.message == .gnutella(.query) }
        #expect(seeking.map(\.observation.contentID) == [Self.bitprintSHA1])
        #expect(seeking.first?.observation.role == .seeking)
    }

    @Test func g2QueriesAndHitsMatchWithTheirURNChildren() throws {
        let sha1 = Self.bitprintSHA1.digest, tiger = Self.bitprintTTH.digest
        let q2 = GnutellaFixtures.g2("Q2", children: [GnutellaFixtures.g2URN("bp", sha1 + tiger), GnutellaFixtures.g2URN("ed2k", Self.ed2k.digest),
                                                      GnutellaFixtures.g2("DN", payload: Bytes.text("hero"))], payload: [1, 2, 3, 4])
        let hit = GnutellaFixtures.g2("H", children: [GnutellaFixtures.g2URN("md5", Self.md5.digest), GnutellaFixtures.g2("DN", payload: Bytes.text("hero.mp3")),
                                                      GnutellaFixtures.g2("SZ", payload: Bytes.le(UInt32(3_234_212)))])
        let qh2 = GnutellaFixtures.g2("QH2", children: [GnutellaFixtures.g2("V", payload: Bytes.text("RAZA")), hit], payload: [0xAA])
        for segment in [1, 5, 1_448] {
            let alerts = EngineHarness.matches(runEngine(link(q2 + qh2, deflate: true, g2: true, segment: segment), list: Self.listed).events)
            #expect(alerts.map(\.observation.contentID) == [Self.bitprintSHA1, Self.bitprintTTH, Self.ed2k, Self.md5], "segment \(segment)")
            #expect(alerts.prefix(3).allSatisfy { $0.observation.message == .gnutella(.g2Query) && $0.observation.role == .seeking && $0.observation.proto == .gnutella2 })
            let last = try #require(alerts.last)
            #expect(last.observation.message == .gnutella(.g2Hit))
            #expect(last.observation.role == .offering)
            #expect(last.observation.context == .gnutella(Gnutella.Context(fileName: "hero.mp3", fileSize: 3_234_212, client: "RAZA")))
        }
    }

    func udp(_ payloads: [[UInt8]]) -> [Frame] {
        let us = Endpoint(address: IPAddress(ipv4: 0xC633_640F), port: 28_681), them = Endpoint(address: IPAddress(ipv4: 0xCB00_7101), port: 26_253)
        return payloads.enumerated().map { index, payload in
            Frame(bytes: PacketBuilder.udp(from: us, to: them, payload: payload), timestamp: Timestamp(seconds: 1_795_000_000 + Int64(index), microseconds: 0))
        }
    }

    @Test func mojitoLooksUpAndStoresAlternateLocationsByTheFilesSHA1() throws {
        let prox = id(.sha1, "38199ebad35316d926b91478d6456e24b06943dd")
        let frames = udp([GnutellaFixtures.mojitoFindValue(key: Self.bitprintSHA1.digest), GnutellaFixtures.mojitoStore(key: prox.digest, type: "PROX"),
                          GnutellaFixtures.mojitoStore(key: Self.ggepSHA1.digest, type: "ALOC"), GnutellaFixtures.mojitoFindValue(key: prox.digest, type: "PROX")])
        let alerts = EngineHarness.matches(runEngine(frames, list: Self.listed + [prox]).events)
        #expect(alerts.map(\.observation.contentID) == [Self.bitprintSHA1, Self.ggepSHA1])
        #expect(alerts.map(\.observation.message) == [.gnutella(.dhtFindValue), .gnutella(.dhtStore)])
        #expect(alerts.map(\.observation.role) == [.seeking, .offering])
        #expect(alerts.allSatisfy { $0.observation.proto == .gnutellaDHT })
    }

    @Test func gnutellaAndG2DatagramsMatch() throws {
        let packet = GnutellaFixtures.g2("Q2", children: [GnutellaFixtures.g2URN("sha1", Self.ggepSHA1.digest)])
        let half = packet.count / 2
        func gnd(_ flags: UInt8, _ part: UInt8, _ count: UInt8, _ body: [UInt8]) -> [UInt8] { Bytes.text("GND") + [flags, 7, 0, part, count] + body }
        let frames = udp([Self.hitDescriptor(), gnd(0, 2, 2, Array(packet[half...])), gnd(0, 1, 2, Array(packet[..<half])),
                          gnd(1, 1, 1, Deflate.zlib(GnutellaFixtures.g2("Q2", children: [GnutellaFixtures.g2URN("ed2k", Self.ed2k.digest)])))])
        let alerts = EngineHarness.matches(runEngine(frames, list: Self.listed).events)
        #expect(Set(alerts.map(\.observation.contentID)) == Set(Self.listed))
        #expect(alerts.filter { $0.observation.proto == .gnutella2 }.map(\.observation.contentID) == [Self.ggepSHA1, Self.ed2k])
    }

    @Test func gnutellaDownloadsOverHTTPNameTheirFiles() throws {
        var tcp = TCPConversation(client: Self.leaf, server: Endpoint(address: Self.peer.address, port: 46_906), start: Self.start)
        var frames = tcp.open()
        frames += tcp.send(fromClient: true, Bytes.text("GET /uri-res/N2R?urn:sha1:LXIP2A72T5H3BU3GRUMZFYNU3OYDK6FI HTTP/1.1\r\nRange: bytes=0-99\r\n\r\n"))
        frames += tcp.send(fromClient: false, Bytes.text("HTTP/1.1 206 OK\r\nServer: Shareaza 2.7.10.2\r\nX-Content-URN: \(Self.bitprint)\r\n"
                                                         + "X-Content-URN: urn:ed2khash:ba105db3d9d8f84af369c14d3e42ba00\r\nContent-Length: 100\r\n\r\n") + [UInt8](repeating: 7, count: 100))
        let alerts = EngineHarness.matches(runEngine(frames + tcp.close(), list: Self.listed).events)
        #expect(alerts.map(\.observation.contentID) == [Self.bitprintSHA1, Self.bitprintTTH, Self.ed2k])
        #expect(alerts.map(\.observation.message) == [.gnutella(.download), .gnutella(.contentURN), .gnutella(.contentURN)])
        #expect(alerts.map(\.observation.role) == [.seeking, .transferring, .transferring])
        #expect(alerts.allSatisfy { $0.observation.proto == .gnutella })
    }

    @Test(arguments: [1, 17, 1_448])
    func aDownloadByIndexNamesItsFileInARequestHeader(segment: Int) {
        var tcp = TCPConversation(client: Self.leaf, server: Endpoint(address: Self.peer.address, port: 6_346), start: Self.start)
        var frames = tcp.open()
        frames += tcp.send(fromClient: true, Bytes.text("GET /get/7/Hero.mp3 HTTP/1.1\r\nUser-Agent: LimeWire/5.5\r\n"
                                                        + "X-Gnutella-Content-URN: urn:sha1:LXIP2A72T5H3BU3GRUMZFYNU3OYDK6FI\r\nRange: bytes=0-\r\n\r\n"), segmentSize: segment)
        let alerts = EngineHarness.matches(runEngine(frames + tcp.close(), list: Self.listed).events)
        #expect(alerts.map(\.observation.contentID) == [Self.bitprintSHA1])
        #expect(alerts.first?.observation.message == .gnutella(.download))
        #expect(alerts.first?.observation.role == .seeking)
    }

    // MARK: - Hostile bytes

    /// Every prefix of a deflated link's stream and of its plain descriptor: no trap, and
    /// nothing reported but the listed identifiers (a hit is read whole or not at all).
    @Test func everyPrefixOfADeflatedStreamIsSafe() {
        let stream = Deflate.zlib(Self.hitDescriptor())
        for length in stride(from: 0, to: stream.count, by: 7) {
            let alerts = EngineHarness.matches(runEngine(wire(Array(stream.prefix(length)), deflate: true), list: Self.listed).events)
            #expect(Set(alerts.map(\.observation.contentID)).isSubset(of: Set(Self.listed)), "prefix \(length)")
        }
        for length in stride(from: 0, to: Self.hitDescriptor().count, by: 3) {
            #expect(EngineHarness.matches(runEngine(link(Array(Self.hitDescriptor().prefix(length)), deflate: true), list: Self.listed).events).isEmpty)
        }
    }

    @Test func badZlibABombAndASpentBudgetAreCountedAndStopOnlyThatDirection() {
        let bad = Array(Deflate.zlib(Self.hitDescriptor()).prefix(2)) + [UInt8](repeating: 0xFF, count: 40)
        let (connect, final, answer) = GnutellaFixtures.handshake(deflate: true)
        func frames(_ peerBytes: [UInt8]) -> [Frame] {
            var tcp = TCPConversation(client: Self.leaf, server: Self.peer, start: Self.start)
            return tcp.open() + tcp.send(fromClient: true, connect + final) + tcp.send(fromClient: false, answer + peerBytes) + tcp.close()
        }
        #expect(runEngine(frames(bad), list: []).counters.anomalies(.inflateMalformed) == 1)
        var small = EngineConfiguration()
        small.decoderLimits.maxInflatedPerDirection = 64 * 1024
        let bomb = Deflate.zlib([UInt8](repeating: 0, count: 4 * 1024 * 1024), level: 9)
        #expect(bomb.count < 8 * 1024)
        let bombed = runEngine(frames(bomb), list: [], configuration: small)
        #expect(bombed.counters.anomalies(.inflateOverLimit) == 1)
        var none = EngineConfiguration()
        none.decoderLimits.maxInflaters = 0
        let spent = runEngine(frames(Deflate.zlib(Self.hitDescriptor())), list: Self.listed, configuration: none)
        #expect(spent.counters.anomalies(.inflateOverBudget) >= 1)
        #expect(EngineHarness.matches(spent.events).isEmpty)
    }

    @Test(arguments: [UInt32(64 * 1024 + 1), UInt32.max])
    func aDescriptorPastTheCapIsAFramingViolation(length: UInt32) {
        let header = [UInt8](repeating: 1, count: 16) + [0x81, 1, 0] + Bytes.le(length)
        let (events, counters) = runEngine(link(header + [UInt8](repeating: 0, count: 100) + Self.hitDescriptor(), deflate: false), list: Self.listed)
        #expect(EngineHarness.matches(events).isEmpty)
        #expect(counters.anomalies(.framingViolation) == 1)
    }

    @Test func aDescriptorAtTheCapIsRead() {
        var payload = GnutellaFixtures.queryHit([GnutellaFixtures.Hit(size: 1, name: "x", extensions: Bytes.text("urn:md5:063e5b524d13a12a01f029b7854d888c"))])
        payload += [UInt8](repeating: 0x20, count: Gnutella.Descriptor.maxPayload - payload.count)
        let alerts = EngineHarness.matches(runEngine(link(GnutellaFixtures.descriptor(type: 0x81, payload: payload), deflate: true), list: Self.listed).events)
        #expect(alerts.map(\.observation.contentID) == [Self.md5])
    }

    /// Hostile query hits: absurd hit counts, names without an end, GGEP blocks that lie about
    /// their lengths or ids; none traps, and a well-formed neighbour is still read.
    @Test func hostileQueryHitsAreSafe() {
        var cases: [[UInt8]] = []
        cases.append([255] + [UInt8](repeating: 0, count: 10) + [1, 0, 0, 0, 9, 0, 0, 0] + Bytes.text("no end"))
        cases.append(GnutellaFixtures.queryHit([GnutellaFixtures.Hit(size: 1, name: "a", extensions: [0xC3, 0x00, 0x40])]))                // id length 0
        cases.append(GnutellaFixtures.queryHit([GnutellaFixtures.Hit(size: 1, name: "a", extensions: [0xC3, 0x81, 0x48, 0x80, 0x80, 0x80])]))  // length never ends
        cases.append(GnutellaFixtures.queryHit([GnutellaFixtures.Hit(size: 1, name: "a", extensions: [0xC3, 0x81, 0x48, 0x7F, 1, 2])]))        // length past the end
        cases.append(GnutellaFixtures.queryHit([GnutellaFixtures.Hit(size: 1, name: "a", extensions: [0xC3, 0x81, 0x48, 0x42, 9, 9])]))        // unknown hash type
        cases.append(GnutellaFixtures.queryHit([GnutellaFixtures.Hit(size: 1, name: "a", extensions: Bytes.text("urn:sha1:SHORT urn:md5:zz urn:"))]))
        cases.append([])
        for payload in cases {
            let descriptors = GnutellaFixtures.descriptor(type: 0x81, payload: payload) + Self.hitDescriptor()
            let alerts = EngineHarness.matches(runEngine(link(descriptors, deflate: true), list: Self.listed).events)
            #expect(Set(alerts.map(\.observation.contentID)) == Set(Self.listed))
        }
    }

    @Test func hostileG2PacketsAreSafe() {
        let deep = (0 ..< 40).reduce(GnutellaFixtures.g2URN("md5", Self.md5.digest)) { inner, _ in GnutellaFixtures.g2("X", children: [inner]) }
        let cases: [[UInt8]] = [
            [0xC0, 0xFF, 0xFF, 0xFF] + Bytes.text("Q2"),                 // a length past the cap
            GnutellaFixtures.g2("Q2", children: [[0x48, 0x7F] + Bytes.text("URN")]),   // a child longer than its parent
            GnutellaFixtures.g2("Q2", children: [GnutellaFixtures.g2("URN", payload: Bytes.text("sha1"))]),   // no NUL
            GnutellaFixtures.g2("Q2", children: [GnutellaFixtures.g2URN("sha1", [1, 2, 3])]),                 // short digest
            GnutellaFixtures.g2("Q2", children: [deep]),
            [0x00, 0x00],
        ]
        for packet in cases {
            let (events, _) = runEngine(link(packet, deflate: true, g2: true), list: Self.listed)
            #expect(EngineHarness.matches(events).isEmpty)
        }
    }

    @Test func anOverlongHandshakeLineIsBoundedNotFatal() {
        let long = Bytes.text("GNUTELLA CONNECT/0.6\r\nX-Long: " + String(repeating: "A", count: 40_000) + "\r\n\r\n")
        var tcp = TCPConversation(client: Self.leaf, server: Self.peer, start: Self.start)
        let frames = tcp.open() + tcp.send(fromClient: true, long) + tcp.close()
        let (events, counters) = runEngine(frames, list: Self.listed)
        #expect(EngineHarness.matches(events).isEmpty)
        #expect(counters.anomalies(.framingViolation) == 1)
        #expect(counters.p2pFlows[Int(P2PProtocol.gnutella.rawValue)] == 0)
    }

    @Test func urnsParseEveryFormPeersWrite() {
        var found: [ContentID] = []
        Bytes.text("x urn:sha1:LXIP2A72T5H3BU3GRUMZFYNU3OYDK6FI, URN:TREE:TIGER/:3WMUS6WM2ZC7XIPRQDKXWHHJRV4IKYC4OX4ELCA;urn:ed2k:ba105db3d9d8f84af369c14d3e42ba00"
                   + " urn:btih:4c9b41d664d7b6b23f0bf39ae185858cbadda3ff xurn:md5:063e5b524d13a12a01f029b7854d888c urn:sha1:TOOSHORT").withUnsafeBytes { raw in
            URN.scan(raw) { found.append($0) }
        }
        #expect(found == [Self.bitprintSHA1, Self.bitprintTTH, Self.ed2k, Self.btih])
    }
}
