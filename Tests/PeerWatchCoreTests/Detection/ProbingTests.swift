import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

/// How long a flow is looked at before it is let go: known non-P2P openings end probing at
/// once, bounds end it for flows that show nothing, and a FIN or RST shortens any flow's life.
@Suite struct ProbingTests {
    static let listed: [UInt8] = Hex.decode("dcfcdccfb9e670ccc3dd40c78c161f2bea243126") ?? []
    static let client = Endpoint(address: IPAddress("198.51.100.23") ?? IPAddress(ipv4: 0), port: 51_413)
    static let server = Endpoint(address: IPAddress("203.0.113.5") ?? IPAddress(ipv4: 0), port: 443)
    static let start = Timestamp(seconds: 1_795_000_000, microseconds: 0)

    static var watchList: WatchListSnapshot {
        EngineHarness.watchList([ContentID(kind: .btih, bytes: listed)].compactMap { $0 })
    }

    static func handshake(tag: String = "-TR3000-") -> [UInt8] {
        var random = SeededGenerator(seed: 1)
        return BitTorrentFixtures.handshake(infoHash: listed, peerID: BitTorrentFixtures.peerID(clientTag: tag, using: &random))
    }

    /// A TLS 1.2 record header announcing a ClientHello, then its first bytes.
    static let clientHello: [UInt8] = [0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03] + [UInt8](repeating: 0x2A, count: 500)
    /// A QUIC v1 Initial's first bytes (long header, fixed bit, version 1, connection ids).
    static let quicInitial: [UInt8] = [0xC3, 0x00, 0x00, 0x00, 0x01, 0x08] + [UInt8](repeating: 0x11, count: 8) + [0x00] + [UInt8](repeating: 0, count: 1_180)
    /// A DNS query for example.com, type A.
    static let dnsQuery: [UInt8] = [0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                    7] + Array("example".utf8) + [3] + Array("com".utf8) + [0, 0x00, 0x01, 0x00, 0x01]

    struct Run {
        var engine = DetectionEngine(watchList: ProbingTests.watchList)
        var events: [DetectionEvent] = []

        mutating func feed(_ frames: [Frame]) {
            for frame in frames {
                frame.bytes.withUnsafeBytes { engine.process(frame: $0, wireLength: frame.wireLength, timestamp: frame.timestamp, link: .ethernet, events: &events) }
            }
        }

        func state(_ a: Endpoint, _ b: Endpoint, _ transport: TransportProtocol = .tcp) -> (phase: FlowSlot.Phase, hasStreams: Bool, hasState: Bool, family: Family?)? {
            engine.state(of: FlowKey(a, b, transport: transport))
        }
    }

    @Test func aTLSOpeningEndsProbingAtOnce() {
        var run = Run()
        var tcp = TCPConversation(client: Self.client, server: Self.server, start: Self.start)
        run.feed(tcp.open())
        run.feed(tcp.send(fromClient: true, Self.clientHello))
        #expect(run.state(Self.client, Self.server)?.phase == .passive)
        #expect(run.state(Self.client, Self.server)?.hasStreams == false)
        #expect(run.engine.poolsInUse.streams == 0)
        #expect(run.engine.poolsInUse.probes == 0)
        // Whatever follows is not looked at.
        run.feed(tcp.send(fromClient: false, Self.handshake()))
        #expect(EngineHarness.matches(run.events).isEmpty)
        #expect(run.engine.counters.flowsUninteresting == 1)
        #expect(run.engine.counters.observations == 0)
    }

    @Test func anSSHBannerEndsProbingAtOnce() {
        var run = Run()
        var tcp = TCPConversation(client: Self.client, server: Endpoint(address: Self.server.address, port: 22), start: Self.start)
        run.feed(tcp.open())
        run.feed(tcp.send(fromClient: false, Array("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n".utf8)))
        #expect(run.state(Self.client, Endpoint(address: Self.server.address, port: 22))?.phase == .passive)
        #expect(run.engine.counters.flowsUninteresting == 1)
    }

    @Test func aQUICOrDNSDatagramEndsProbingAtOnce() {
        var run = Run()
        let quicServer = Endpoint(address: Self.server.address, port: 443)
        run.feed([Frame(bytes: PacketBuilder.udp(from: Self.client, to: quicServer, payload: Self.quicInitial), timestamp: Self.start)])
        #expect(run.state(Self.client, quicServer, .udp)?.phase == .passive)
        let resolver = Endpoint(address: Self.server.address, port: 53)
        run.feed([Frame(bytes: PacketBuilder.udp(from: Self.client, to: resolver, payload: Self.dnsQuery), timestamp: Self.start)])
        #expect(run.state(Self.client, resolver, .udp)?.phase == .passive)
        #expect(run.engine.counters.flowsUninteresting == 2)
        #expect(run.engine.poolsInUse.decoders == 0)
    }

    /// Bytes that look a little like a known opening but are not one keep the flow probing:
    /// a DHT query, a uTP SYN and a Kad packet are P2P, and so is a datagram on port 53 that
    /// is no DNS header.
    @Test func lookalikesKeepProbing() {
        let dhtQuery = Array("d1:ad2:id20:abcdefghij0123456789e1:q4:ping1:t2:aa1:y1:qe".utf8)
        let utpSyn: [UInt8] = [0x41, 0x00, 0x12, 0x34] + [UInt8](repeating: 0, count: 16)
        let kad: [UInt8] = [0xE4, 0x21] + [UInt8](repeating: 0x33, count: 30)
        for payload in [dhtQuery, utpSyn, kad] {
            let ends = payload.withUnsafeBytes { KnownOpenings.endsDatagramProbing($0, ports: PortPair(source: 6_881, destination: 53)) }
            #expect(!ends, "\(payload.prefix(4))")
        }
        let handshake = Self.handshake()
        #expect(!handshake.withUnsafeBytes { KnownOpenings.endsStreamProbing($0) })
        #expect(Self.clientHello.withUnsafeBytes { KnownOpenings.endsStreamProbing($0) })
        #expect(Self.quicInitial.withUnsafeBytes { KnownOpenings.endsDatagramProbing($0, ports: PortPair(source: 50_000, destination: 443)) })
        // A DNS header only counts on a DNS port.
        #expect(!Self.dnsQuery.withUnsafeBytes { KnownOpenings.endsDatagramProbing($0, ports: PortPair(source: 50_000, destination: 6_881)) })
    }

    /// Every prefix and every single-byte change of each opening is judged without trapping,
    /// and a prefix too short to tell never ends probing.
    @Test func truncatedAndMutatedOpeningsNeverTrap() {
        let ssh = Array("SSH-2.0-x\r\n".utf8)
        for opening in [Self.clientHello, Self.quicInitial, Self.dnsQuery, ssh] {
            for length in 0 ... min(opening.count, 40) {
                let prefix = Array(opening.prefix(length))
                prefix.withUnsafeBytes { raw in
                    _ = KnownOpenings.endsStreamProbing(raw)
                    _ = KnownOpenings.endsDatagramProbing(raw, ports: PortPair(source: 53, destination: 53))
                }
                if length < 5 { #expect(!prefix.withUnsafeBytes { KnownOpenings.endsStreamProbing($0) }) }
            }
            for index in 0 ..< min(opening.count, 16) {
                for value: UInt8 in [0x00, 0x7F, 0xFF] {
                    var mutated = opening
                    mutated[index] = value
                    mutated.withUnsafeBytes { raw in
                        _ = KnownOpenings.endsStreamProbing(raw)
                        _ = KnownOpenings.endsDatagramProbing(raw, ports: PortPair(source: 53, destination: 443))
                    }
                }
            }
        }
    }

    /// A direction that shows nothing within the probing bounds is no longer offered; once both
    /// are spent, the flow is let go with its reassembly.
    @Test func aFlowThatShowsNothingWithinTheBoundsIsLetGo() {
        var run = Run()
        let web = Endpoint(address: Self.server.address, port: 8_000)
        var tcp = TCPConversation(client: Self.client, server: web, start: Self.start)
        run.feed(tcp.open())
        let junk = [UInt8](repeating: 0x5A, count: ProbingBounds.maxBytes + 100)
        run.feed(tcp.send(fromClient: true, junk))
        #expect(run.state(Self.client, web)?.phase == .probing)
        run.feed(tcp.send(fromClient: false, junk))
        #expect(run.state(Self.client, web)?.phase == .passive)
        #expect(run.state(Self.client, web)?.hasStreams == false)
        run.feed(tcp.send(fromClient: false, Self.handshake()))
        #expect(run.engine.counters.observations == 0)
        #expect(run.engine.poolsInUse.streams == 0 && run.engine.poolsInUse.probes == 0)
    }

    /// Many small segments spend the packet bound before the byte bound.
    @Test func manySmallSegmentsSpendThePacketBound() {
        var run = Run()
        let web = Endpoint(address: Self.server.address, port: 8_000)
        var tcp = TCPConversation(client: Self.client, server: web, start: Self.start)
        run.feed(tcp.open())
        for _ in 0 ..< ProbingBounds.maxPackets {
            run.feed([tcp.segment(fromClient: true, [0x01, 0x02, 0x03])])
            run.feed([tcp.segment(fromClient: false, [0x04, 0x05, 0x06])])
        }
        #expect(run.state(Self.client, web)?.phase == .passive)
        #expect(run.engine.counters.flowsUninteresting == 1)
    }

    /// Asymmetric routing: only one direction is ever seen. The flow stops probing within the
    /// one-way bound and keeps no reassembly.
    @Test func aOneWayFlowStopsProbing() {
        var run = Run()
        var tcp = TCPConversation(client: Self.client, server: Endpoint(address: Self.server.address, port: 9_000), start: Self.start)
        for _ in 0 ... ProbingBounds.maxOneWayPackets {
            run.feed([tcp.segment(fromClient: true, [UInt8](repeating: 0x20, count: 40))])
        }
        #expect(run.state(Self.client, Endpoint(address: Self.server.address, port: 9_000))?.phase == .passive)
        #expect(run.engine.poolsInUse.streams == 0)
    }

    /// A FIN or RST ends any flow on the short timeout, whatever its phase: a passive TLS flow
    /// that closed goes after `tcpClosedTimeout`, an open one stays until `tcpIdleTimeout`.
    @Test func aClosedFlowGoesOnTheShortTimeoutWhateverItsPhase() {
        var run = Run()
        var closing = TCPConversation(client: Self.client, server: Self.server, start: Self.start)
        let otherClient = Endpoint(address: Self.client.address, port: 40_000)
        var open = TCPConversation(client: otherClient, server: Self.server, start: Self.start)
        run.feed(closing.open() + closing.send(fromClient: true, Self.clientHello))
        run.feed(open.open() + open.send(fromClient: true, Self.clientHello))
        #expect(run.state(Self.client, Self.server)?.phase == .passive)
        run.feed([closing.segment(fromClient: false, [], flags: [.rst])])
        #expect(run.engine.flowCount == 2)
        let closed = run.engine.configuration.tcpClosedTimeout
        run.engine.advanceClock(to: Self.start.adding(seconds: closed + 2), events: &run.events)
        run.engine.advanceClock(to: Self.start.adding(seconds: closed + 3), events: &run.events)
        #expect(run.state(Self.client, Self.server) == nil)
        #expect(run.state(otherClient, Self.server)?.phase == .passive)
        #expect(run.engine.flowCount == 1)
        #expect(run.engine.counters.flowsExpired == 1)
    }

    /// Plain HTTP is recognised as framing, and let go once its request line carried nothing
    /// and its response is a bulk body: it does not stay scanned to its end.
    @Test func plainHTTPIsLetGoAfterItsBulkBodyBegins() {
        var run = Run()
        let web = Endpoint(address: Self.server.address, port: 80)
        var tcp = TCPConversation(client: Self.client, server: web, start: Self.start)
        run.feed(tcp.open())
        run.feed(tcp.send(fromClient: true, Array("GET /video.mp4 HTTP/1.1\r\nHost: example.com\r\n\r\n".utf8)))
        #expect(run.state(Self.client, web)?.family == .http)
        let header = Array("HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 50000000\r\n\r\n".utf8)
        run.feed(tcp.send(fromClient: false, header + [UInt8](repeating: 0, count: 4_000)))
        #expect(run.state(Self.client, web)?.phase == .passive)
        #expect(run.engine.poolsInUse.decoders == 0 && run.engine.poolsInUse.streams == 0)
        #expect(run.engine.counters.flowsUninteresting == 1)
    }

    /// The end of a capture ends flows one at a time as each is removed, least recently seen
    /// first, and leaves the table and pools empty.
    @Test func finishingEndsEachFlowAsItIsRemoved() {
        var run = Run()
        var frames: [Frame] = []
        var ports: [UInt16] = []
        for n in 0 ..< 5 {
            let port = UInt16(30_000 + n)
            ports.append(port)
            var tcp = TCPConversation(client: Endpoint(address: Self.client.address, port: port), server: Endpoint(address: Self.server.address, port: 6_881),
                                      start: Self.start.adding(seconds: Int64(n)))
            frames += tcp.open() + tcp.send(fromClient: true, Self.handshake())
        }
        run.feed(frames.sorted { $0.timestamp < $1.timestamp })
        run.engine.finish(events: &run.events)
        let ends = EngineHarness.flowEnds(run.events)
        #expect(ends.map(\.initiator.port) == ports)
        #expect(ends.allSatisfy { $0.reason == .shutdown })
        #expect(run.engine.flowCount == 0)
        #expect(run.engine.poolsInUse.streams == 0 && run.engine.poolsInUse.probes == 0 && run.engine.poolsInUse.decoders == 0)
    }
}
