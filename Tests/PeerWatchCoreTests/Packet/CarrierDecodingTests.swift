import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

/// Packets through every carrier a tap delivers: the inner packet, what carried it, and the
/// zone that keeps address spaces apart; and hostile carrier headers, counted and skipped.
@Suite struct CarrierDecodingTests {
    static let client = Endpoint(address: IPAddress(ipv4: 0x0A00_0005), port: 51_413)     // 10.0.0.5
    static let server = Endpoint(address: IPAddress(ipv4: 0x0A00_0009), port: 6_881)      // 10.0.0.9
    static let a = IPAddress(ipv4: 0xC000_0201), b = IPAddress(ipv4: 0xC000_0202)
    static let a6 = IPAddress(ipv6High: 0x2001_0DB8_0000_00FF, low: 1), b6 = IPAddress(ipv6High: 0x2001_0DB8_0000_00FF, low: 2)
    typealias Tunnel = Carrier.Tunnel

    /// What each profile's forward packets must report.
    static let expected: [String: Carrier] = [
        "vlan": Carrier(vlans: [100]),
        "qinq": Carrier(vlans: [10, 20]),
        "pppoe": Carrier(pppoeSession: 0x1234),
        "mpls": Carrier(mplsLabels: [16_004, 17]),
        "mpls-pseudowire": Carrier(vlans: [42], mplsLabels: [300, 301]),
        "gre": Carrier(tunnels: [Tunnel(kind: .gre, outerSource: a, outerDestination: b)]),
        "gre-key-sequence-checksum": Carrier(tunnels: [Tunnel(kind: .gre, outerSource: a, outerDestination: b, id: 5)]),
        "gre-ethernet-ipv6": Carrier(tunnels: [Tunnel(kind: .gre, outerSource: a6, outerDestination: b6, id: 77)]),
        "erspan1": Carrier(tunnels: [Tunnel(kind: .gre, outerSource: a, outerDestination: b),
                                     Tunnel(kind: .erspan, outerSource: a, outerDestination: b, version: 1)]),
        "erspan2": Carrier(tunnels: [Tunnel(kind: .gre, outerSource: a, outerDestination: b),
                                     Tunnel(kind: .erspan, outerSource: a, outerDestination: b, id: 12, version: 2)]),
        "erspan3": Carrier(tunnels: [Tunnel(kind: .gre, outerSource: a6, outerDestination: b6),
                                     Tunnel(kind: .erspan, outerSource: a6, outerDestination: b6, id: 1023, version: 3)]),
        "vxlan": Carrier(tunnels: [Tunnel(kind: .vxlan, outerSource: a, outerDestination: b, id: 5001)]),
        "geneve": Carrier(tunnels: [Tunnel(kind: .geneve, outerSource: a, outerDestination: b, id: 0xABCDE)]),
        "gtpu": Carrier(tunnels: [Tunnel(kind: .gtpu, outerSource: a, outerDestination: b, id: 0x1000_0001)]),
        "gtpu-ipv6": Carrier(tunnels: [Tunnel(kind: .gtpu, outerSource: a6, outerDestination: b6, id: 0x42)]),
        "ipip": Carrier(tunnels: [Tunnel(kind: .ipInIP, outerSource: a, outerDestination: b)]),
        "ip-in-ipv6": Carrier(tunnels: [Tunnel(kind: .ipInIP, outerSource: a6, outerDestination: b6)]),
        "stack": Carrier(vlans: [7, 8], mplsLabels: [1000], tunnels: [
            Tunnel(kind: .gre, outerSource: a, outerDestination: b, id: 3), Tunnel(kind: .gre, outerSource: b, outerDestination: a),
            Tunnel(kind: .erspan, outerSource: b, outerDestination: a, id: 5, version: 2), Tunnel(kind: .vxlan, outerSource: a6, outerDestination: b6, id: 9),
        ]),
    ]

    static let kinds: [String: CarrierSet] = [
        "vlan": [CarrierSet(.vlan)], "qinq": [CarrierSet(.vlan)], "pppoe": [CarrierSet(.pppoe)], "mpls": [CarrierSet(.mpls)],
        "mpls-pseudowire": [CarrierSet(.mpls), CarrierSet(.vlan)], "gre": [CarrierSet(.gre)], "gre-key-sequence-checksum": [CarrierSet(.gre)],
        "gre-ethernet-ipv6": [CarrierSet(.gre)], "erspan1": [CarrierSet(.gre), CarrierSet(.erspan)], "erspan2": [CarrierSet(.gre), CarrierSet(.erspan)],
        "erspan3": [CarrierSet(.gre), CarrierSet(.erspan)], "vxlan": [CarrierSet(.vxlan)], "geneve": [CarrierSet(.geneve)],
        "gtpu": [CarrierSet(.gtpu)], "gtpu-ipv6": [CarrierSet(.gtpu)], "ipip": [CarrierSet(.ipInIP)], "ip-in-ipv6": [CarrierSet(.ipInIP)],
        "stack": [CarrierSet(.vlan), CarrierSet(.mpls), CarrierSet(.gre), CarrierSet(.erspan), CarrierSet(.vxlan)],
    ]

    func decode(_ frame: [UInt8], options: CarrierOptions = CarrierOptions()) -> Result<DecodedPacket, PacketSkipError> {
        frame.withUnsafeBytes { PacketDecoder.decode($0, link: .ethernet, options: options) }
    }

    func carrier(_ frame: [UInt8]) -> Carrier { frame.withUnsafeBytes { PacketDecoder.carrier(of: $0, link: .ethernet) } }

    @Test(arguments: CarrierProfile.all)
    func theInnerPacketAndItsCarrier(profile: CarrierProfile) throws {
        let payload = Array("inner payload".utf8)
        let inner = PacketBuilder.tcp(from: Self.client, to: Self.server, sequence: 77, flags: [.ack, .psh], payload: payload)
        let frame = CarrierBuilder.wrap(inner, in: profile.layers)
        let packet = try decode(frame).get()
        #expect(packet.source == Self.client.address && packet.destination == Self.server.address)
        #expect(packet.sourcePort == 51_413 && packet.destinationPort == 6_881 && packet.transport == .tcp && packet.sequenceNumber == 77)
        #expect(Array(frame[packet.payloadOffset ..< packet.payloadOffset + packet.payloadLength]) == payload)
        #expect(packet.carriers == Self.kinds[profile.name])
        #expect(carrier(frame) == Self.expected[profile.name])
        // Both directions meet in one flow, through the reversed tunnel too.
        let back = CarrierBuilder.wrap(PacketBuilder.tcp(from: Self.server, to: Self.client, sequence: 5, flags: .ack), in: profile.reverseLayers)
        let reply = try decode(back).get()
        #expect(FlowKey.of(reply).key == FlowKey.of(packet).key)
        // Every carrier but VLAN, PPPoE, MPLS and ERSPAN keeps its address space apart.
        let plain = try decode(inner).get()
        let keyed = !["pppoe", "mpls", "erspan1", "erspan2", "erspan3"].contains(profile.name)
        #expect((packet.zone != plain.zone) == keyed, "zone \(packet.zone) for \(profile.name)")
    }

    @Test func anIPv6PacketInsideEveryTunnel() throws {
        let client6 = Endpoint(address: IPAddress(ipv6High: 0xFD00, low: 5), port: 40_000)
        let server6 = Endpoint(address: IPAddress(ipv6High: 0xFD00, low: 9), port: 6_881)
        for profile in CarrierProfile.all {
            let frame = CarrierBuilder.wrap(PacketBuilder.udp(from: client6, to: server6, payload: [1, 2, 3]), in: profile.layers)
            let packet = try decode(frame).get()
            #expect(packet.source == client6.address && packet.destinationPort == 6_881 && packet.payloadLength == 3, "\(profile.name)")
        }
    }

    @Test func sameAddressesBehindDifferentVLANsOrTunnelsStayApart() throws {
        let inner = PacketBuilder.tcp(from: Self.client, to: Self.server, sequence: 1, flags: .syn)
        func key(_ layers: [CarrierLayer], _ options: CarrierOptions = CarrierOptions()) throws -> FlowKey {
            FlowKey.of(try decode(CarrierBuilder.wrap(inner, in: layers), options: options).get()).key
        }
        #expect(try key([.vlan(100)]) != key([.vlan(200)]))
        #expect(try key([.vxlan(source: Self.a, destination: Self.b, vni: 1)]) != key([.vxlan(source: Self.a, destination: Self.b, vni: 2)]))
        #expect(try key([.gre(source: Self.a, destination: Self.b, key: 1)]) != key([.gre(source: Self.a, destination: Self.b, key: 2)]))
        let otherCell = IPAddress(ipv4: 0xC000_0203)
        #expect(try key([.gtpu(source: Self.a, destination: Self.b, teid: 1)]) != key([.gtpu(source: otherCell, destination: Self.b, teid: 1)]))
        // One bearer's two TEIDs are one flow; so are two label stacks (labels change hop by hop).
        #expect(try key([.gtpu(source: Self.a, destination: Self.b, teid: 1)]) == key([.gtpu(source: Self.b, destination: Self.a, teid: 2)]))
        #expect(try key([.mpls(labels: [16])]) == key([.mpls(labels: [17, 18])]))
        // With VLAN tracking off, a tap whose directions arrive on two VLANs sees one flow.
        var untracked = CarrierOptions()
        untracked.vlanTracking = false
        #expect(try key([.vlan(100)], untracked) == key([.vlan(200)], untracked))
        #expect(try key([.vlan(100)], untracked) == key([], untracked))
    }

    @Test func tunnelPortsAreConfigurable() throws {
        let inner = PacketBuilder.udp(from: Self.client, to: Self.server, payload: [9, 9])
        let frame = CarrierBuilder.wrap(inner, in: [.vxlan(source: Self.a, destination: Self.b, vni: 3, port: 8472)])
        // On the default ports, 8472 is plain UDP: the outer datagram is the flow.
        #expect(try decode(frame).get().destinationPort == 8472)
        var options = CarrierOptions()
        options.vxlanPorts = PortSet([4789, 8472])
        let packet = try decode(frame, options: options).get()
        #expect(packet.destinationPort == 6_881 && packet.carriers == CarrierSet(.vxlan))
    }

    @Test func udpOnATunnelPortThatIsNoTunnelIsPlainUDP() throws {
        // A uTP packet from a client that happens to use port 2152 or 4789.
        let utp: [UInt8] = [0x41, 0, 0x12, 0x34] + [UInt8](repeating: 0, count: 16)
        for port: UInt16 in [2152, 4789, 6081] {
            let frame = PacketBuilder.udp(from: Self.client, to: Endpoint(address: Self.server.address, port: port), payload: utp)
            let packet = try decode(frame).get()
            #expect(packet.destinationPort == port && packet.payloadLength == utp.count && packet.carriers.isEmpty)
        }
    }

    @Test func gtpSignallingIsNoSubscriberPacket() throws {
        var echo: [UInt8] = [0x32, 0x01, 0x00, 0x04, 0, 0, 0, 0, 0x00, 0x01, 0x00, 0x00]
        echo[3] = 4
        let frame = PacketBuilder.udp(from: Endpoint(address: Self.a, port: 2152), to: Endpoint(address: Self.b, port: 2152), payload: echo)
        #expect(decode(frame) == .failure(PacketSkipError(reason: .notIP)))
    }

    // MARK: - Hostile carriers

    let inner = PacketBuilder.tcp(from: client, to: server, sequence: 1, flags: .syn)

    @Test(arguments: CarrierProfile.all)
    func everyCutOfACarrierIsSkippedNeverATrap(profile: CarrierProfile) {
        let frame = CarrierBuilder.wrap(inner, in: profile.layers)
        for length in 0 ..< frame.count {
            let cut = Array(frame[..<length])
            switch decode(cut) {
            case .success(let packet):
                // Only a cut inside the inner TCP payload can decode (there is none here), or a
                // cut of the IP length bound; the payload must lie inside the bytes.
                #expect(packet.payloadOffset + packet.payloadLength <= cut.count)
            case .failure:
                break
            }
            _ = carrier(cut)
        }
    }

    @Test func labelStacksPastTheCapAreSkipped() throws {
        let deep = CarrierBuilder.wrap(inner, in: [.mpls(labels: Array(1 ... UInt32(PacketDecoder.maxMPLSLabels + 1)))])
        #expect(decode(deep) == .failure(PacketSkipError(reason: .tooManyLayers)))
        let atCap = CarrierBuilder.wrap(inner, in: [.mpls(labels: Array(1 ... UInt32(PacketDecoder.maxMPLSLabels)))])
        #expect(try decode(atCap).get().destinationPort == 6_881)
        // A stack with no bottom runs into the frame's end.
        var bottomless = CarrierBuilder.wrap(inner, in: [.mpls(labels: [5])])
        bottomless[16] &= 0xFE
        bottomless = Array(bottomless[..<22])
        #expect(decode(bottomless) == .failure(PacketSkipError(reason: .malformedTunnel)))
    }

    @Test func greWithBadFlagsIsSkipped() throws {
        let good = CarrierBuilder.wrap(inner, in: [.gre(source: Self.a, destination: Self.b)])
        let greOffset = 14 + 20
        for (flags, reason) in [(UInt16(0x4000), PacketSkipReason.malformedTunnel), (0x0800, .malformedTunnel), (0x0100, .malformedTunnel),
                                (0x0008, .malformedTunnel), (0x0001, .otherTransport)] {
            var frame = good
            frame[greOffset] = UInt8(flags >> 8)
            frame[greOffset + 1] = UInt8(flags & 0xFF)
            #expect(decode(frame) == .failure(PacketSkipError(reason: reason)), "flags \(flags)")
        }
        // A key bit with no room for the key.
        var keyed = Array(good[..<(greOffset + 4)])
        keyed[greOffset] = 0x20
        #expect(decode(keyed) == .failure(PacketSkipError(reason: .malformedTunnel)))
        // An ERSPAN II header of the wrong version.
        var erspan = CarrierBuilder.wrap(inner, in: [.erspan(source: Self.a, destination: Self.b, type: 2, session: 1)])
        erspan[greOffset + 8] = 0x50
        #expect(decode(erspan) == .failure(PacketSkipError(reason: .malformedTunnel)))
    }

    @Test func gtpExtensionChainsThatLoopOrOverrunAreSkipped() {
        let layers = { (extensions: [[UInt8]]) -> [CarrierLayer] in [.gtpu(source: Self.a, destination: Self.b, teid: 1, extensions: extensions)] }
        let extensionsStart = 14 + 20 + 8 + 12
        // A zero length would never advance.
        var zero = CarrierBuilder.wrap(inner, in: layers([[1, 2]]))
        zero[extensionsStart] = 0
        #expect(decode(zero) == .failure(PacketSkipError(reason: .malformedTunnel)))
        // A length past the datagram.
        var overrun = CarrierBuilder.wrap(inner, in: layers([[1, 2]]))
        overrun[extensionsStart] = 200
        #expect(decode(overrun) == .failure(PacketSkipError(reason: .malformedTunnel)))
        // A chain past the cap.
        let long = CarrierBuilder.wrap(inner, in: layers(Array(repeating: [1, 2], count: PacketDecoder.maxGTPExtensionHeaders + 1)))
        #expect(decode(long) == .failure(PacketSkipError(reason: .tooManyLayers)))
        let atCap = CarrierBuilder.wrap(inner, in: layers(Array(repeating: [1, 2], count: PacketDecoder.maxGTPExtensionHeaders)))
        #expect((try? decode(atCap).get().destinationPort) == 6_881)
    }

    @Test func tunnelsInsideTunnelsWithoutEndAreSkipped() {
        let nested = Array(repeating: CarrierLayer.ipInIP(source: Self.a, destination: Self.b), count: PacketDecoder.maxLayers)
        #expect(decode(CarrierBuilder.wrap(inner, in: nested)) == .failure(PacketSkipError(reason: .tooManyLayers)))
        let vxlanLoop = Array(repeating: CarrierLayer.vxlan(source: Self.a, destination: Self.b, vni: 1), count: PacketDecoder.maxLayers / 3 + 1)
        #expect(decode(CarrierBuilder.wrap(inner, in: vxlanLoop)) == .failure(PacketSkipError(reason: .tooManyLayers)))
    }
}
