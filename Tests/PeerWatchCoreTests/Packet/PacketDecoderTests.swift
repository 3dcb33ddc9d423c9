import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

@Suite struct PacketDecoderTests {
    static let client = Endpoint(address: IPAddress(ipv4: 0xC633_6417), port: 51_413)   // 198.51.100.23
    static let server = Endpoint(address: IPAddress(ipv4: 0xCB00_7105), port: 6_881)     // 203.0.113.5
    static let client6 = Endpoint(address: IPAddress(ipv6High: 0x2001_0DB8_0100_0000, low: 0x24), port: 40_000)
    static let server6 = Endpoint(address: IPAddress(ipv6High: 0x2001_0DB8_0200_0000, low: 0x7), port: 6_881)
    static let links: [LinkType] = [.ethernet, .linuxSLL, .linuxSLL2, .raw, .null, .loop]

    func decode(_ frame: [UInt8], _ link: LinkType) -> Result<DecodedPacket, PacketSkipError> {
        frame.withUnsafeBytes { PacketDecoder.decode($0, link: link) }
    }

    @Test(arguments: links)
    func decodesTCPOverIPv4OnEveryLinkType(link: LinkType) throws {
        let payload: [UInt8] = Array("hello".utf8)
        let frame = PacketBuilder.tcp(from: Self.client, to: Self.server, sequence: 0xFFFF_FFF0, acknowledgment: 77,
                                      flags: [.ack, .psh], payload: payload, link: link)
        let packet = try decode(frame, link).get()
        #expect(packet.source == Self.client.address)
        #expect(packet.destination == Self.server.address)
        #expect(packet.sourcePort == 51_413)
        #expect(packet.destinationPort == 6_881)
        #expect(packet.transport == .tcp)
        #expect(packet.sequenceNumber == 0xFFFF_FFF0)
        #expect(packet.acknowledgmentNumber == 77)
        #expect(packet.tcpFlags == [.ack, .psh])
        #expect(Array(frame[packet.payloadOffset ..< packet.payloadOffset + packet.payloadLength]) == payload)
        #expect(!packet.isTruncated)
    }

    @Test(arguments: links)
    func decodesUDPOverIPv6OnEveryLinkType(link: LinkType) throws {
        let payload: [UInt8] = [1, 2, 3, 4, 5, 6, 7]
        let frame = PacketBuilder.udp(from: Self.client6, to: Self.server6, payload: payload, link: link)
        let packet = try decode(frame, link).get()
        #expect(packet.source.description == "2001:db8:100::24")
        #expect(packet.destination.description == "2001:db8:200::7")
        #expect(packet.transport == .udp)
        #expect(packet.sourcePort == 40_000)
        #expect(Array(frame[packet.payloadOffset ..< packet.payloadOffset + packet.payloadLength]) == payload)
    }

    @Test func decodesStackedVLANTagsAndRefusesTooMany() throws {
        let three = PacketBuilder.tcp(from: Self.client, to: Self.server, sequence: 1, flags: .syn, vlanTags: [100, 200, 300])
        #expect(try decode(three, .ethernet).get().destinationPort == 6_881)
        let five = PacketBuilder.tcp(from: Self.client, to: Self.server, sequence: 1, flags: .syn, vlanTags: [1, 2, 3, 4, 5])
        #expect(decode(five, .ethernet) == .failure(PacketSkipError(reason: .tooManyLayers)))
    }

    @Test func decodesPPPoESessions() throws {
        let ip = PacketBuilder.ipPacket(source: Self.client.address, destination: Self.server.address, proto: 17,
                                        payload: [0x9C, 0x40, 0x00, 0x35, 0x00, 0x08, 0x00, 0x00])
        var frame: [UInt8] = [UInt8](repeating: 2, count: 12) + [0x88, 0x64, 0x11, 0x00, 0x00, 0x01]
        frame += [UInt8(truncatingIfNeeded: (ip.count + 2) >> 8), UInt8(truncatingIfNeeded: ip.count + 2), 0x00, 0x21]
        frame += ip
        let packet = try decode(frame, .ethernet).get()
        #expect(packet.sourcePort == 40_000)
        #expect(packet.destinationPort == 53)
    }

    @Test func honoursIPv4OptionsAndTrimsEthernetPadding() throws {
        let udp: [UInt8] = [0x9C, 0x40, 0x00, 0x35, 0x00, 0x0A, 0x00, 0x00, 0xAA, 0xBB]
        let ip = PacketBuilder.ipPacket(source: Self.client.address, destination: Self.server.address, proto: 17, payload: udp,
                                        ipv4Options: [0x94, 0x04, 0x00, 0x00])  // router alert
        let frame = PacketBuilder.frame(ip, family: .v4, link: .ethernet) + [UInt8](repeating: 0xEE, count: 20)
        let packet = try decode(frame, .ethernet).get()
        #expect(packet.payloadLength == 2)
        #expect(Array(frame[packet.payloadOffset ..< packet.payloadOffset + 2]) == [0xAA, 0xBB])
    }

    @Test func walksIPv6ExtensionHeaders() throws {
        let udp: [UInt8] = [0x9C, 0x40, 0x1A, 0xE1, 0x00, 0x09, 0x00, 0x00, 0x42]
        // Hop-by-hop (8 bytes, next: destination options), destination options (8 bytes, next: UDP).
        let hopByHop: [UInt8] = [60, 0, 1, 4, 0, 0, 0, 0]
        let destination: [UInt8] = [17, 0, 1, 4, 0, 0, 0, 0]
        let ip = PacketBuilder.ipPacket(source: Self.client6.address, destination: Self.server6.address, proto: 0,
                                        payload: hopByHop + destination + udp)
        let packet = try decode(ip, .rawIPv6).get()
        #expect(packet.destinationPort == 6_881)
        #expect(packet.payloadLength == 1)
        #expect(ip[packet.payloadOffset] == 0x42)
    }

    @Test func readsFragmentsForTheReassembler() throws {
        let payload = [UInt8](repeating: 0x11, count: 24)
        let first = PacketBuilder.ipPacket(source: Self.client.address, destination: Self.server.address, proto: 17,
                                           payload: payload, identification: 0x4242, fragmentField: 0x2000)
        let later = PacketBuilder.ipPacket(source: Self.client.address, destination: Self.server.address, proto: 17,
                                           payload: payload, identification: 0x4242, fragmentField: 0x0003)
        let head = try decode(first, .rawIPv4).get()
        #expect(head.fragment.isFragment && head.fragment.more && head.fragment.offset == 0 && head.fragment.proto == 17)
        #expect(head.fragment.identification == 0x4242 && head.payloadOffset == 20 && head.payloadLength == 24)
        let tail = try decode(later, .rawIPv4).get()
        #expect(tail.fragment.isFragment && !tail.fragment.more && tail.fragment.offset == 24)
        let fragmentHeader: [UInt8] = [17, 0, 0x00, 0x09, 0, 0, 0, 1]  // offset 1, more fragments
        let ip6 = PacketBuilder.ipPacket(source: Self.client6.address, destination: Self.server6.address, proto: 44,
                                         payload: fragmentHeader + payload)
        let six = try decode(ip6, .rawIPv6).get()
        #expect(six.fragment.isFragment && six.fragment.more && six.fragment.offset == 8 && six.fragment.identification == 1 && six.fragment.proto == 17)
        #expect(six.payloadOffset == 48 && six.payloadLength == 24)
        // A whole packet is no fragment.
        #expect(try !decode(PacketBuilder.ipPacket(source: Self.client.address, destination: Self.server.address, proto: 17,
                                                   payload: [0, 1, 0, 2, 0, 8, 0, 0]), .rawIPv4).get().fragment.isFragment)
    }

    @Test func snaplenCutFramesDecodeWhatWasCaptured() throws {
        let frame = PacketBuilder.tcp(from: Self.client, to: Self.server, sequence: 9, flags: .ack,
                                      payload: [UInt8](repeating: 7, count: 500))
        let cut = Array(frame.prefix(96))
        let packet = try decode(cut, .ethernet).get()
        #expect(packet.isTruncated)
        #expect(packet.declaredPayloadLength == 500)
        #expect(packet.payloadLength == 96 - 54)
    }

    @Test func refusesInconsistentHeaders() {
        var badIHL = PacketBuilder.ipPacket(source: Self.client.address, destination: Self.server.address, proto: 6, payload: [])
        badIHL[0] = 0x44
        #expect(decode(badIHL, .rawIPv4) == .failure(PacketSkipError(reason: .malformedIP)))
        var shortTotal = PacketBuilder.ipPacket(source: Self.client.address, destination: Self.server.address, proto: 6, payload: [])
        shortTotal[3] = 10
        #expect(decode(shortTotal, .rawIPv4) == .failure(PacketSkipError(reason: .malformedIP)))
        var badOffset = PacketBuilder.tcp(from: Self.client, to: Self.server, sequence: 1, flags: .syn, link: .rawIPv4)
        badOffset[32] = 0x40  // data offset 4 words
        #expect(decode(badOffset, .rawIPv4) == .failure(PacketSkipError(reason: .malformedTransport)))
        var shortUDP = PacketBuilder.udp(from: Self.client, to: Self.server, payload: [1, 2], link: .rawIPv4)
        shortUDP[25] = 4  // UDP length 4 < 8
        #expect(decode(shortUDP, .rawIPv4) == .failure(PacketSkipError(reason: .malformedTransport)))
        var longUDP = PacketBuilder.udp(from: Self.client, to: Self.server, payload: [1, 2], link: .rawIPv4)
        longUDP[25] = 200
        #expect(decode(longUDP, .rawIPv4) == .failure(PacketSkipError(reason: .malformedTransport)))
        #expect(decode([0x08, 0x06] + [UInt8](repeating: 0, count: 40), .linuxSLL2) == .failure(PacketSkipError(reason: .notIP)))
        #expect(decode([0x50, 0x00], .raw) == .failure(PacketSkipError(reason: .notIP)))
        #expect(decode([0x07, 0, 0, 0, 0x45], .null) == .failure(PacketSkipError(reason: .notIP)))
    }

    /// Every prefix of a good frame, on every link type: a result or a skip, never a trap.
    @Test(arguments: links)
    func everyPrefixIsSafe(link: LinkType) {
        let frames = [
            PacketBuilder.tcp(from: Self.client, to: Self.server, sequence: 5, flags: .ack, payload: [1, 2, 3], link: link),
            PacketBuilder.udp(from: Self.client6, to: Self.server6, payload: [9, 9], link: link),
        ]
        for frame in frames {
            for length in 0 ... frame.count {
                let prefix = Array(frame.prefix(length))
                if case .success(let packet) = decode(prefix, link) {
                    #expect(packet.payloadOffset + packet.payloadLength <= length)
                }
            }
        }
    }

    /// Random garbage and random corruptions of good frames, on every link type.
    @Test(arguments: links)
    func garbageIsSafe(link: LinkType) {
        var random = SeededGenerator(seed: 0xBAD0 + UInt64(PacketBuilder.dataLinkType(link)))
        let good = PacketBuilder.tcp(from: Self.client, to: Self.server, sequence: 5, flags: .ack, payload: [1, 2, 3], link: link)
        for round in 0 ..< 5_000 {
            var frame: [UInt8]
            if round % 2 == 0 {
                frame = random.bytes(Int(random.next() % 120))
            } else {
                frame = good
                for _ in 0 ..< 1 + Int(random.next() % 4) {
                    frame[Int(random.next() % UInt64(frame.count))] = UInt8(truncatingIfNeeded: random.next())
                }
            }
            if case .success(let packet) = decode(frame, link) {
                #expect(packet.payloadOffset >= 0)
                #expect(packet.payloadOffset + packet.payloadLength <= frame.count)
            }
        }
    }
}

extension Result<DecodedPacket, PacketSkipError> {
    static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.failure(let a), .failure(let b)): a == b
        default: false
        }
    }
}
