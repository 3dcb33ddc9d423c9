import PeerWatchCore

/// One carrier layer to wrap a packet in, for tests and for `tools/rewrap`.
public enum CarrierLayer: Sendable, Equatable {
    /// An 802.1Q tag (802.1ad for the outer tag when several are stacked by one call).
    case vlan(UInt16)
    /// A PPPoE session header.
    case pppoe(session: UInt16)
    /// An MPLS label stack. With `pseudowire` the labelled payload is the whole Ethernet frame
    /// (RFC 4448), after a control word when `controlWord`; otherwise the bare IP packet.
    case mpls(labels: [UInt32], pseudowire: Bool = false, controlWord: Bool = true)
    /// GRE between two addresses: the payload is the IP packet, or the Ethernet frame with
    /// `ethernet` (transparent Ethernet bridging, 0x6558).
    case gre(source: IPAddress, destination: IPAddress, key: UInt32? = nil, sequence: UInt32? = nil, checksum: Bool = false, ethernet: Bool = false)
    /// ERSPAN type 1, 2 or 3 (the mirrored Ethernet frame inside GRE); type 3 with the optional
    /// platform sub-header when `platform`.
    case erspan(source: IPAddress, destination: IPAddress, type: UInt8, session: UInt16, platform: Bool = false)
    /// VXLAN around the Ethernet frame.
    case vxlan(source: IPAddress, destination: IPAddress, vni: UInt32, port: UInt16 = 4789)
    /// Geneve around the Ethernet frame, with `optionWords` 4-byte words of options.
    case geneve(source: IPAddress, destination: IPAddress, vni: UInt32, optionWords: Int = 0)
    /// A GTP-U G-PDU around the IP packet, with a sequence number when given and the given
    /// extension headers (each its content; lengths and next types are filled in).
    case gtpu(source: IPAddress, destination: IPAddress, teid: UInt32, sequence: UInt16? = nil, extensions: [[UInt8]] = [])
    /// The IP packet inside another IP header (protocol 4 or 41 by the inner version).
    case ipInIP(source: IPAddress, destination: IPAddress)
}

/// Wraps packets in carriers: the frames taps deliver, built in code.
public enum CarrierBuilder {
    /// What a layer holds while wrapping.
    private enum Unit {
        case ethernet([UInt8])
        case ip([UInt8])
    }

    private static let macs: [UInt8] = [0x02, 0x00, 0x00, 0x00, 0x0A, 0x02, 0x02, 0x00, 0x00, 0x00, 0x0A, 0x01]

    /// Wraps `frame` (an Ethernet frame, such as `PacketBuilder` makes) in `layers`, outermost
    /// first; returns an Ethernet frame.
    public static func wrap(_ frame: [UInt8], in layers: [CarrierLayer]) -> [UInt8] {
        var unit = Unit.ethernet(frame)
        for layer in layers.reversed() { unit = apply(layer, to: unit) }
        return ethernet(unit)
    }

    /// Wraps a bare IP packet in `layers`; returns an Ethernet frame.
    public static func wrap(ip: [UInt8], in layers: [CarrierLayer]) -> [UInt8] {
        var unit = Unit.ip(ip)
        for layer in layers.reversed() { unit = apply(layer, to: unit) }
        return ethernet(unit)
    }

    /// The IP packet inside an Ethernet frame (after any VLAN tags), or nil.
    public static func ipPacket(ofEthernet frame: [UInt8]) -> [UInt8]? {
        var offset = 12
        while offset + 2 <= frame.count {
            let type = UInt16(frame[offset]) << 8 | UInt16(frame[offset + 1])
            switch type {
            case 0x8100, 0x88A8, 0x9100: offset += 4
            case 0x0800, 0x86DD: return Array(frame[(offset + 2)...])
            default: return nil
            }
        }
        return nil
    }

    private static func ethernet(_ unit: Unit) -> [UInt8] {
        switch unit {
        case .ethernet(let frame): return frame
        case .ip(let packet):
            var out = macs
            PacketBuilder.append16(&out, packet.first.map { $0 >> 4 == 6 } == true ? 0x86DD : 0x0800)
            return out + packet
        }
    }

    private static func ip(_ unit: Unit) -> [UInt8] {
        switch unit {
        case .ip(let packet): return packet
        case .ethernet(let frame): return ipPacket(ofEthernet: frame) ?? []
        }
    }

    private static func etherTypeOfIP(_ packet: [UInt8]) -> UInt16 { packet.first.map { $0 >> 4 == 6 } == true ? 0x86DD : 0x0800 }

    private static func udp(source: IPAddress, destination: IPAddress, sourcePort: UInt16, destinationPort: UInt16, payload: [UInt8]) -> [UInt8] {
        var datagram = [UInt8]()
        PacketBuilder.append16(&datagram, sourcePort)
        PacketBuilder.append16(&datagram, destinationPort)
        PacketBuilder.append16(&datagram, UInt16(truncatingIfNeeded: 8 + payload.count))
        PacketBuilder.append16(&datagram, 0)
        datagram += payload
        var checksum = PacketBuilder.transportChecksum(datagram, proto: 17, source: source, destination: destination)
        if checksum == 0 { checksum = 0xFFFF }
        datagram[6] = UInt8(checksum >> 8)
        datagram[7] = UInt8(checksum & 0xFF)
        return PacketBuilder.ipPacket(source: source, destination: destination, proto: 17, payload: datagram)
    }

    private static func greHeader(protocolType: UInt16, key: UInt32?, sequence: UInt32?, checksum: Bool) -> [UInt8] {
        var flags: UInt16 = 0
        if checksum { flags |= 0x8000 }
        if key != nil { flags |= 0x2000 }
        if sequence != nil { flags |= 0x1000 }
        var out = [UInt8]()
        PacketBuilder.append16(&out, flags)
        PacketBuilder.append16(&out, protocolType)
        if checksum { out += [0, 0, 0, 0] }
        if let key { PacketBuilder.append32(&out, key) }
        if let sequence { PacketBuilder.append32(&out, sequence) }
        return out
    }

    private static func apply(_ layer: CarrierLayer, to unit: Unit) -> Unit {
        switch layer {
        case .vlan(let id):
            var frame = ethernet(unit)
            frame.insert(contentsOf: [0x81, 0x00, UInt8(id >> 8 & 0x0F), UInt8(id & 0xFF)], at: 12)
            return .ethernet(frame)
        case .pppoe(let session):
            let packet = ip(unit)
            var out = macs + [0x88, 0x64, 0x11, 0x00, UInt8(session >> 8), UInt8(session & 0xFF)]
            PacketBuilder.append16(&out, UInt16(truncatingIfNeeded: packet.count + 2))
            PacketBuilder.append16(&out, etherTypeOfIP(packet) == 0x86DD ? 0x0057 : 0x0021)
            return .ethernet(out + packet)
        case .mpls(let labels, let pseudowire, let controlWord):
            var out = macs
            PacketBuilder.append16(&out, 0x8847)
            for (index, label) in labels.enumerated() {
                let bottom: UInt32 = index == labels.count - 1 ? 0x100 : 0
                PacketBuilder.append32(&out, label << 12 | bottom | 64)
            }
            if pseudowire {
                if controlWord { out += [0, 0, 0, 0] }
                out += ethernet(unit)
            } else {
                out += ip(unit)
            }
            return .ethernet(out)
        case .gre(let source, let destination, let key, let sequence, let checksum, let bridged):
            let payload = bridged ? ethernet(unit) : ip(unit)
            let type: UInt16 = bridged ? 0x6558 : etherTypeOfIP(payload)
            let header = greHeader(protocolType: type, key: key, sequence: sequence, checksum: checksum)
            return .ip(PacketBuilder.ipPacket(source: source, destination: destination, proto: 47, payload: header + payload))
        case .erspan(let source, let destination, let type, let session, let platform):
            var header: [UInt8]
            switch type {
            case 1:
                header = greHeader(protocolType: 0x88BE, key: nil, sequence: nil, checksum: false)
            case 2:
                header = greHeader(protocolType: 0x88BE, key: nil, sequence: 7, checksum: false)
                PacketBuilder.append32(&header, 1 << 28 | UInt32(session & 0x3FF))
                PacketBuilder.append32(&header, 0)
            default:
                header = greHeader(protocolType: 0x22EB, key: nil, sequence: 7, checksum: false)
                PacketBuilder.append32(&header, 2 << 28 | UInt32(session & 0x3FF))
                PacketBuilder.append32(&header, 0x1234_5678)  // timestamp
                PacketBuilder.append16(&header, 0)            // security group tag
                PacketBuilder.append16(&header, platform ? 1 : 0)  // P, FT 0 (Ethernet), hardware id, D, Gra, O
                if platform { header += [0x08, 0, 0, 0, 0, 0, 0, 0] }
            }
            return .ip(PacketBuilder.ipPacket(source: source, destination: destination, proto: 47, payload: header + ethernet(unit)))
        case .vxlan(let source, let destination, let vni, let port):
            var header: [UInt8] = [0x08, 0, 0, 0]
            PacketBuilder.append32(&header, vni << 8)
            return .ip(udp(source: source, destination: destination, sourcePort: 49_152, destinationPort: port, payload: header + ethernet(unit)))
        case .geneve(let source, let destination, let vni, let optionWords):
            var header: [UInt8] = [UInt8(optionWords & 0x3F), 0]
            PacketBuilder.append16(&header, 0x6558)
            PacketBuilder.append32(&header, vni << 8)
            for _ in 0 ..< optionWords { header += [0x01, 0x02, 0x03, 0x00] }
            return .ip(udp(source: source, destination: destination, sourcePort: 49_153, destinationPort: 6081, payload: header + ethernet(unit)))
        case .gtpu(let source, let destination, let teid, let sequence, let extensions):
            let packet = ip(unit)
            var optional = [UInt8]()
            var flags: UInt8 = 0x30
            if sequence != nil || !extensions.isEmpty {
                if sequence != nil { flags |= 0x02 }
                if !extensions.isEmpty { flags |= 0x04 }
                PacketBuilder.append16(&optional, sequence ?? 0)
                optional.append(0)
                optional.append(extensions.isEmpty ? 0 : 0x85)
                for (index, content) in extensions.enumerated() {
                    var body = content
                    while (body.count + 2) % 4 != 0 { body.append(0) }
                    optional.append(UInt8((body.count + 2) / 4))
                    optional += body
                    optional.append(index == extensions.count - 1 ? 0 : 0x85)
                }
            }
            var header: [UInt8] = [flags, 0xFF]
            PacketBuilder.append16(&header, UInt16(truncatingIfNeeded: optional.count + packet.count))
            PacketBuilder.append32(&header, teid)
            return .ip(udp(source: source, destination: destination, sourcePort: 2152, destinationPort: 2152, payload: header + optional + packet))
        case .ipInIP(let source, let destination):
            let packet = ip(unit)
            return .ip(PacketBuilder.ipPacket(source: source, destination: destination, proto: etherTypeOfIP(packet) == 0x86DD ? 41 : 4, payload: packet))
        }
    }
}

/// A named stack of carrier layers, as a tap of some kind delivers packets.
public struct CarrierProfile: Sendable, CustomStringConvertible {
    /// The profile's name (`vlan`, `gtpu`, ...).
    public var name: String
    /// The layers, outermost first, for packets from the lower inner address to the higher.
    public var layers: [CarrierLayer]

    public init(_ name: String, _ layers: [CarrierLayer]) {
        self.name = name
        self.layers = layers
    }

    public var description: String { name }

    /// The layers of the other direction: outer endpoints swapped, and for GTP-U the peer's
    /// TEID (one more than this direction's), as a bearer's uplink and downlink differ.
    public var reverseLayers: [CarrierLayer] {
        layers.map { layer in
            switch layer {
            case .vlan, .pppoe, .mpls: layer
            case .gre(let s, let d, let key, let sequence, let checksum, let ethernet):
                .gre(source: d, destination: s, key: key, sequence: sequence, checksum: checksum, ethernet: ethernet)
            case .erspan(let s, let d, let type, let session, let platform): .erspan(source: d, destination: s, type: type, session: session, platform: platform)
            case .vxlan(let s, let d, let vni, let port): .vxlan(source: d, destination: s, vni: vni, port: port)
            case .geneve(let s, let d, let vni, let words): .geneve(source: d, destination: s, vni: vni, optionWords: words)
            case .gtpu(let s, let d, let teid, let sequence, let extensions): .gtpu(source: d, destination: s, teid: teid &+ 1, sequence: sequence, extensions: extensions)
            case .ipInIP(let s, let d): .ipInIP(source: d, destination: s)
            }
        }
    }

    static let a = IPAddress(ipv4: 0xC000_0201), b = IPAddress(ipv4: 0xC000_0202)          // 192.0.2.1, .2
    static let a6 = IPAddress(ipv6High: 0x2001_0DB8_0000_00FF, low: 1), b6 = IPAddress(ipv6High: 0x2001_0DB8_0000_00FF, low: 2)

    /// One profile per carrier PeerWatch decodes, and a deep stack of several.
    public static let all: [CarrierProfile] = [
        CarrierProfile("vlan", [.vlan(100)]),
        CarrierProfile("qinq", [.vlan(10), .vlan(20)]),
        CarrierProfile("pppoe", [.pppoe(session: 0x1234)]),
        CarrierProfile("mpls", [.mpls(labels: [16_004, 17])]),
        CarrierProfile("mpls-pseudowire", [.mpls(labels: [300, 301], pseudowire: true), .vlan(42)]),
        CarrierProfile("gre", [.gre(source: a, destination: b)]),
        CarrierProfile("gre-key-sequence-checksum", [.gre(source: a, destination: b, key: 5, sequence: 9, checksum: true)]),
        CarrierProfile("gre-ethernet-ipv6", [.gre(source: a6, destination: b6, key: 77, ethernet: true)]),
        CarrierProfile("erspan1", [.erspan(source: a, destination: b, type: 1, session: 0)]),
        CarrierProfile("erspan2", [.erspan(source: a, destination: b, type: 2, session: 12)]),
        CarrierProfile("erspan3", [.erspan(source: a6, destination: b6, type: 3, session: 1023, platform: true)]),
        CarrierProfile("vxlan", [.vxlan(source: a, destination: b, vni: 5001)]),
        CarrierProfile("geneve", [.geneve(source: a, destination: b, vni: 0xABCDE, optionWords: 3)]),
        CarrierProfile("gtpu", [.gtpu(source: a, destination: b, teid: 0x1000_0001, sequence: 3, extensions: [[0x00, 0x09]])]),
        CarrierProfile("gtpu-ipv6", [.gtpu(source: a6, destination: b6, teid: 0x42)]),
        CarrierProfile("ipip", [.ipInIP(source: a, destination: b)]),
        CarrierProfile("ip-in-ipv6", [.ipInIP(source: a6, destination: b6)]),
        CarrierProfile("stack", [.vlan(7), .mpls(labels: [1000], pseudowire: true), .vlan(8), .gre(source: a, destination: b, key: 3),
                                 .erspan(source: b, destination: a, type: 2, session: 5), .vxlan(source: a6, destination: b6, vni: 9)]),
    ]
}

extension CarrierBuilder {
    /// The IP packet of a frame captured on `link`, or nil for a frame that holds none.
    public static func ipPacket(of frame: [UInt8], link: LinkType) -> [UInt8]? {
        func tail(_ count: Int) -> [UInt8]? { frame.count > count ? Array(frame[count...]) : nil }
        switch link {
        case .ethernet: return ipPacket(ofEthernet: frame)
        case .linuxSLL: return frame.count > 16 && (frame[14] == 0x08 && frame[15] == 0x00 || frame[14] == 0x86 && frame[15] == 0xDD) ? tail(16) : nil
        case .linuxSLL2: return frame.count > 20 && (frame[0] == 0x08 && frame[1] == 0x00 || frame[0] == 0x86 && frame[1] == 0xDD) ? tail(20) : nil
        case .raw, .rawIPv4, .rawIPv6: return frame
        case .null, .loop: return tail(4)
        }
    }

    /// Re-wraps a frame captured on `link` in `profile` (its reverse layers when the packet runs
    /// from the higher inner address to the lower); an Ethernet frame, or nil for a frame that
    /// holds no IP packet.
    public static func rewrap(_ frame: [UInt8], link: LinkType, in profile: CarrierProfile) -> [UInt8]? {
        guard let packet = ipPacket(of: frame, link: link), let first = packet.first else { return nil }
        let (source, destination): ([UInt8], [UInt8])
        switch first >> 4 {
        case 4 where packet.count >= 20: (source, destination) = (Array(packet[12 ..< 16]), Array(packet[16 ..< 20]))
        case 6 where packet.count >= 40: (source, destination) = (Array(packet[8 ..< 24]), Array(packet[24 ..< 40]))
        default: return nil
        }
        let forward = source.lexicographicallyPrecedes(destination) || source == destination
        return wrap(ip: packet, in: forward ? profile.layers : profile.reverseLayers)
    }
}

extension CarrierBuilder {
    /// Cuts an IPv4 or IPv6 packet into fragments of at most `size` payload bytes (rounded down
    /// to a multiple of 8), in order; IPv6 fragments get a fragment header after the fixed one.
    public static func fragments(of packet: [UInt8], size: Int, identification: UInt32 = 0x5151) -> [[UInt8]] {
        guard let first = packet.first else { return [] }
        let step = max(8, size / 8 * 8)
        if first >> 4 == 4 {
            let headerLength = Int(first & 0x0F) * 4
            let header = Array(packet[..<headerLength]), payload = Array(packet[headerLength...])
            return stride(from: 0, to: payload.count, by: step).map { offset in
                let chunk = Array(payload[offset ..< min(payload.count, offset + step)])
                var out = header
                let total = headerLength + chunk.count
                out[2] = UInt8(total >> 8)
                out[3] = UInt8(total & 0xFF)
                out[4] = UInt8(identification >> 8 & 0xFF)
                out[5] = UInt8(identification & 0xFF)
                let field = UInt16(offset / 8) | (offset + step < payload.count ? 0x2000 : 0)
                out[6] = UInt8(field >> 8)
                out[7] = UInt8(field & 0xFF)
                out[10] = 0
                out[11] = 0
                let checksum = PacketBuilder.internetChecksum(out)
                out[10] = UInt8(checksum >> 8)
                out[11] = UInt8(checksum & 0xFF)
                return out + chunk
            }
        }
        guard packet.count >= 40 else { return [] }
        let next = packet[6]
        let payload = Array(packet[40...])
        return stride(from: 0, to: payload.count, by: step).map { offset in
            let chunk = Array(payload[offset ..< min(payload.count, offset + step)])
            var out = Array(packet[..<40])
            let length = 8 + chunk.count
            out[4] = UInt8(length >> 8)
            out[5] = UInt8(length & 0xFF)
            out[6] = 44
            let field = UInt16(offset / 8) << 3 | (offset + step < payload.count ? 1 : 0)
            out += [next, 0, UInt8(field >> 8), UInt8(field & 0xFF)]
            PacketBuilder.append32(&out, identification)
            return out + chunk
        }
    }
}
