import PeerWatchCore

/// One captured frame for a test capture: its bytes, when it was seen, and its wire length.
public struct Frame: Sendable, Equatable {
    /// The captured bytes.
    public var bytes: [UInt8]
    /// Capture time.
    public var timestamp: Timestamp
    /// Length on the wire (defaults to the captured length).
    public var wireLength: Int

    public init(bytes: [UInt8], timestamp: Timestamp, wireLength: Int? = nil) {
        self.bytes = bytes
        self.timestamp = timestamp
        self.wireLength = wireLength ?? bytes.count
    }
}

/// Builds link, IP, TCP and UDP headers with correct lengths and checksums, for tests and
/// fixture tools. Every builder returns a plain byte array.
public enum PacketBuilder {
    /// A TCP segment from `source` to `destination`, framed for `link`.
    public static func tcp(
        from source: Endpoint, to destination: Endpoint, sequence: UInt32, acknowledgment: UInt32 = 0,
        flags: TCPFlags, payload: [UInt8] = [], window: UInt16 = 65_535, link: LinkType = .ethernet, vlanTags: [UInt16] = []
    ) -> [UInt8] {
        var segment = [UInt8]()
        segment.reserveCapacity(20 + payload.count)
        append16(&segment, source.port)
        append16(&segment, destination.port)
        append32(&segment, sequence)
        append32(&segment, acknowledgment)
        segment.append(5 << 4)
        segment.append(flags.rawValue)
        append16(&segment, window)
        append16(&segment, 0)  // checksum, filled below
        append16(&segment, 0)  // urgent pointer
        segment += payload
        let checksum = transportChecksum(segment, proto: TransportProtocol.tcp.rawValue, source: source.address, destination: destination.address)
        segment[16] = UInt8(checksum >> 8)
        segment[17] = UInt8(checksum & 0xFF)
        let ip = ipPacket(source: source.address, destination: destination.address, proto: TransportProtocol.tcp.rawValue, payload: segment)
        return frame(ip, family: source.address.family, link: link, vlanTags: vlanTags)
    }

    /// A UDP datagram from `source` to `destination`, framed for `link`.
    public static func udp(
        from source: Endpoint, to destination: Endpoint, payload: [UInt8], link: LinkType = .ethernet, vlanTags: [UInt16] = []
    ) -> [UInt8] {
        var datagram = [UInt8]()
        append16(&datagram, source.port)
        append16(&datagram, destination.port)
        append16(&datagram, UInt16(truncatingIfNeeded: 8 + payload.count))
        append16(&datagram, 0)
        datagram += payload
        var checksum = transportChecksum(datagram, proto: TransportProtocol.udp.rawValue, source: source.address, destination: destination.address)
        if checksum == 0 { checksum = 0xFFFF }
        datagram[6] = UInt8(checksum >> 8)
        datagram[7] = UInt8(checksum & 0xFF)
        let ip = ipPacket(source: source.address, destination: destination.address, proto: TransportProtocol.udp.rawValue, payload: datagram)
        return frame(ip, family: source.address.family, link: link, vlanTags: vlanTags)
    }

    /// An IPv4 or IPv6 packet (by the addresses' family) around `payload`.
    /// - Parameters:
    ///   - ipv4Options: IPv4 options (padded to a multiple of four bytes).
    ///   - fragmentField: the IPv4 flags and fragment offset field.
    public static func ipPacket(
        source: IPAddress, destination: IPAddress, proto: UInt8, payload: [UInt8], ttl: UInt8 = 64,
        identification: UInt16 = 0x1234, ipv4Options: [UInt8] = [], fragmentField: UInt16 = 0x4000
    ) -> [UInt8] {
        var header = [UInt8]()
        switch source.family {
        case .v4:
            var options = ipv4Options
            while options.count % 4 != 0 { options.append(0) }
            let headerLength = 20 + options.count
            header.append(0x40 | UInt8(headerLength / 4))
            header.append(0)
            append16(&header, UInt16(truncatingIfNeeded: headerLength + payload.count))
            append16(&header, identification)
            append16(&header, fragmentField)
            header.append(ttl)
            header.append(proto)
            append16(&header, 0)
            header += source.bytes
            header += destination.bytes
            header += options
            let checksum = internetChecksum(header)
            header[10] = UInt8(checksum >> 8)
            header[11] = UInt8(checksum & 0xFF)
        case .v6:
            append32(&header, 0x6000_0000)
            append16(&header, UInt16(truncatingIfNeeded: payload.count))
            header.append(proto)
            header.append(ttl)
            header += source.bytes
            header += destination.bytes
        }
        return header + payload
    }

    /// Wraps an IP packet in the link layer `link`.
    public static func frame(_ ip: [UInt8], family: IPAddress.Family, link: LinkType, vlanTags: [UInt16] = []) -> [UInt8] {
        let etherType: UInt16 = family == .v4 ? 0x0800 : 0x86DD
        var out = [UInt8]()
        switch link {
        case .ethernet:
            out += [0x02, 0x00, 0x00, 0x00, 0x00, 0x02, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01]
            for (index, tag) in vlanTags.enumerated() {
                append16(&out, index == 0 && vlanTags.count > 1 ? 0x88A8 : 0x8100)
                append16(&out, tag & 0x0FFF)
            }
            append16(&out, etherType)
        case .linuxSLL:
            append16(&out, 0)       // packet type: to us
            append16(&out, 1)       // ARPHRD_ETHER
            append16(&out, 6)
            out += [0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0, 0]
            append16(&out, etherType)
        case .linuxSLL2:
            append16(&out, etherType)
            append16(&out, 0)
            append32(&out, 2)       // interface index
            append16(&out, 1)       // ARPHRD_ETHER
            out.append(0)           // packet type
            out.append(6)
            out += [0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0, 0]
        case .raw, .rawIPv4, .rawIPv6:
            break
        case .null:
            let value: UInt32 = family == .v4 ? 2 : 24
            out += [UInt8(value & 0xFF), UInt8(value >> 8 & 0xFF), 0, 0]  // little-endian host
        case .loop:
            append32(&out, family == .v4 ? 2 : 24)
        }
        return out + ip
    }

    /// The libpcap DLT value for `link`.
    public static func dataLinkType(_ link: LinkType) -> UInt32 {
        switch link {
        case .ethernet: 1
        case .linuxSLL: 113
        case .linuxSLL2: 276
        case .raw: 101
        case .rawIPv4: 228
        case .rawIPv6: 229
        case .null: 0
        case .loop: 108
        }
    }

    /// The RFC 1071 checksum of `bytes`.
    public static func internetChecksum(_ bytes: [UInt8], initial: UInt32 = 0) -> UInt16 {
        var sum = initial
        var index = 0
        while index + 1 < bytes.count {
            sum &+= UInt32(bytes[index]) << 8 | UInt32(bytes[index + 1])
            index += 2
        }
        if index < bytes.count { sum &+= UInt32(bytes[index]) << 8 }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) &+ (sum >> 16) }
        return ~UInt16(truncatingIfNeeded: sum)
    }

    static func transportChecksum(_ segment: [UInt8], proto: UInt8, source: IPAddress, destination: IPAddress) -> UInt16 {
        var pseudo = source.bytes + destination.bytes
        if source.family == .v4 {
            pseudo += [0, proto]
            append16(&pseudo, UInt16(truncatingIfNeeded: segment.count))
        } else {
            append32(&pseudo, UInt32(segment.count))
            pseudo += [0, 0, 0, proto]
        }
        return internetChecksum(pseudo + segment)
    }

    static func append16(_ out: inout [UInt8], _ value: UInt16) {
        out.append(UInt8(value >> 8))
        out.append(UInt8(value & 0xFF))
    }

    static func append32(_ out: inout [UInt8], _ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }
}
