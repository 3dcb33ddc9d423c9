/// One frame decoded down to its transport header: addresses, ports, TCP fields and where the
/// payload lies in the frame. Plain values only; the payload itself stays in the capture buffer.
public struct DecodedPacket: Sendable {
    /// The sender's address.
    public var source = IPAddress(ipv4: 0)
    /// The receiver's address.
    public var destination = IPAddress(ipv4: 0)
    /// TCP or UDP.
    public var transport = TransportProtocol.tcp
    /// The sender's port.
    public var sourcePort: UInt16 = 0
    /// The receiver's port.
    public var destinationPort: UInt16 = 0
    /// TCP sequence number (zero for UDP).
    public var sequenceNumber: UInt32 = 0
    /// TCP acknowledgment number (zero for UDP).
    public var acknowledgmentNumber: UInt32 = 0
    /// TCP flags (empty for UDP).
    public var tcpFlags = TCPFlags()
    /// Where the transport payload starts in the frame.
    public var payloadOffset = 0
    /// How many payload bytes the frame holds (may be fewer than were sent, see `isTruncated`).
    public var payloadLength = 0
    /// How many payload bytes the IP and transport headers declare.
    public var declaredPayloadLength = 0
    /// Whether the capture holds fewer bytes than the headers declare (snaplen).
    public var isTruncated = false

    public init() {}
}

/// Why a frame produced no `DecodedPacket`; each reason is a counter, never a log line.
public enum PacketSkipReason: Int, Sendable, CaseIterable, CustomStringConvertible {
    /// The link-layer header is cut short.
    case truncatedLinkHeader
    /// The frame carries something other than IPv4 or IPv6 (ARP, LLDP, ...).
    case notIP
    /// The IP header is cut short or inconsistent (bad version, length below header size).
    case malformedIP
    /// An IP fragment; its transport header is not decoded (bounded reassembly comes later).
    case fragment
    /// A transport other than TCP and UDP (ICMP, ESP, ...).
    case otherTransport
    /// The TCP or UDP header is cut short or inconsistent.
    case malformedTransport
    /// Too many VLAN tags, IPv6 extension headers or tunnel layers.
    case tooManyLayers

    public var description: String {
        switch self {
        case .truncatedLinkHeader: "truncated_link_header"
        case .notIP: "not_ip"
        case .malformedIP: "malformed_ip"
        case .fragment: "fragment"
        case .otherTransport: "other_transport"
        case .malformedTransport: "malformed_transport"
        case .tooManyLayers: "too_many_layers"
        }
    }
}

/// Decodes link, IP and transport headers through `ByteReader`; never traps, never allocates.
public enum PacketDecoder {
    /// 802.1Q stacks deeper than this are not seen on real links (QinQ uses two).
    public static let maxVLANTags = 4
    /// RFC 8200 recommends a small bounded chain; eight covers every real combination.
    public static let maxIPv6ExtensionHeaders = 8

    /// Decodes `frame` captured on `link`.
    /// - Returns: the packet, or the reason it was skipped.
    public static func decode(_ frame: UnsafeRawBufferPointer, link: LinkType) -> Result<DecodedPacket, PacketSkipError> {
        var reader = ByteReader(frame)
        var packet = DecodedPacket()
        if let reason = decodeLink(&reader, link: link, into: &packet) {
            return .failure(PacketSkipError(reason: reason))
        }
        return .success(packet)
    }

    private static func decodeLink(_ reader: inout ByteReader, link: LinkType, into packet: inout DecodedPacket) -> PacketSkipReason? {
        switch link {
        case .ethernet:
            guard reader.skip(12), let type = reader.readInteger(as: UInt16.self) else { return .truncatedLinkHeader }
            return decodeEtherType(type, &reader, into: &packet)
        case .linuxSLL:
            guard reader.skip(14), let type = reader.readInteger(as: UInt16.self) else { return .truncatedLinkHeader }
            return decodeEtherType(type, &reader, into: &packet)
        case .linuxSLL2:
            guard let type = reader.readInteger(as: UInt16.self), reader.skip(18) else { return .truncatedLinkHeader }
            return decodeEtherType(type, &reader, into: &packet)
        case .raw:
            guard let first = reader.peekByte() else { return .truncatedLinkHeader }
            switch first >> 4 {
            case 4: return decodeIPv4(&reader, into: &packet)
            case 6: return decodeIPv6(&reader, into: &packet)
            default: return .notIP
            }
        case .rawIPv4:
            return decodeIPv4(&reader, into: &packet)
        case .rawIPv6:
            return decodeIPv6(&reader, into: &packet)
        case .null, .loop:
            // The family is host order for DLT_NULL, network order for DLT_LOOP; accept either, as
            // a capture may come from a host of the other byte order.
            guard let big = reader.readInteger(as: UInt32.self) else { return .truncatedLinkHeader }
            let little = big.byteSwapped
            if big == 2 || little == 2 { return decodeIPv4(&reader, into: &packet) }
            switch (big, little) {
            case (10, _), (24, _), (28, _), (30, _), (_, 10), (_, 24), (_, 28), (_, 30):
                return decodeIPv6(&reader, into: &packet)
            default:
                return .notIP
            }
        }
    }

    private static func decodeEtherType(_ first: UInt16, _ reader: inout ByteReader, into packet: inout DecodedPacket) -> PacketSkipReason? {
        var type = first
        var tags = 0
        while true {
            switch type {
            case 0x0800:
                return decodeIPv4(&reader, into: &packet)
            case 0x86DD:
                return decodeIPv6(&reader, into: &packet)
            case 0x8100, 0x88A8, 0x9100:
                tags += 1
                guard tags <= maxVLANTags else { return .tooManyLayers }
                guard reader.skip(2), let inner = reader.readInteger(as: UInt16.self) else { return .truncatedLinkHeader }
                type = inner
            case 0x8864:
                // PPPoE session (RFC 2516): ver/type, code, session, length, then the PPP protocol.
                guard reader.skip(6), let ppp = reader.readInteger(as: UInt16.self) else { return .truncatedLinkHeader }
                switch ppp {
                case 0x0021: return decodeIPv4(&reader, into: &packet)
                case 0x0057: return decodeIPv6(&reader, into: &packet)
                default: return .notIP
                }
            default:
                return .notIP
            }
        }
    }

    /// RFC 791: validates version, header length and total length; trims link padding.
    private static func decodeIPv4(_ reader: inout ByteReader, into packet: inout DecodedPacket) -> PacketSkipReason? {
        guard let versionIHL = reader.peekByte(), versionIHL >> 4 == 4,
              let totalLength = reader.peekInteger(as: UInt16.self, at: 2),
              let fragmentField = reader.peekInteger(as: UInt16.self, at: 6),
              let proto = reader.peekByte(at: 9),
              let source = reader.peekInteger(as: UInt32.self, at: 12),
              let destination = reader.peekInteger(as: UInt32.self, at: 16)
        else { return .malformedIP }
        let headerLength = Int(versionIHL & 0x0F) * 4
        guard headerLength >= 20, Int(totalLength) >= headerLength, reader.skip(headerLength) else { return .malformedIP }
        let declared = Int(totalLength) - headerLength
        // Ethernet pads short frames: the IP length, not the frame, bounds the payload.
        var truncated = false
        if declared <= reader.remaining {
            reader.truncate(toRemaining: declared)
        } else {
            truncated = true
        }
        packet.source = IPAddress(ipv4: source)
        packet.destination = IPAddress(ipv4: destination)
        let moreFragments = fragmentField & 0x2000 != 0
        let fragmentOffset = fragmentField & 0x1FFF
        if moreFragments || fragmentOffset != 0 { return .fragment }
        return decodeTransport(proto, declaredLength: declared, truncated: truncated, &reader, into: &packet)
    }

    /// RFC 8200: fixed header, then a bounded walk of extension headers to the transport.
    private static func decodeIPv6(_ reader: inout ByteReader, into packet: inout DecodedPacket) -> PacketSkipReason? {
        guard let first = reader.peekByte(), first >> 4 == 6,
              let payloadLength = reader.peekInteger(as: UInt16.self, at: 4),
              var next = reader.peekByte(at: 6),
              let sourceHigh = reader.peekInteger(as: UInt64.self, at: 8),
              let sourceLow = reader.peekInteger(as: UInt64.self, at: 16),
              let destinationHigh = reader.peekInteger(as: UInt64.self, at: 24),
              let destinationLow = reader.peekInteger(as: UInt64.self, at: 32),
              reader.skip(40)
        else { return .malformedIP }
        packet.source = IPAddress(ipv6High: sourceHigh, low: sourceLow)
        packet.destination = IPAddress(ipv6High: destinationHigh, low: destinationLow)
        var truncated = false
        var declared = Int(payloadLength)
        if payloadLength == 0 {
            declared = reader.remaining  // jumbogram or unknown: take what was captured
        } else if declared <= reader.remaining {
            reader.truncate(toRemaining: declared)
        } else {
            truncated = true
        }
        var headers = 0
        while true {
            switch next {
            case 0, 43, 60, 135, 139, 140:
                // Hop-by-hop, routing, destination options, mobility, HIP, shim6: length in 8-octet units.
                guard let nextHeader = reader.peekByte(), let units = reader.peekByte(at: 1) else { return .malformedIP }
                let length = (Int(units) + 1) * 8
                guard reader.skip(length) else { return .malformedIP }
                declared -= length
                next = nextHeader
            case 51:
                // Authentication header: length in 4-octet units, minus two.
                guard let nextHeader = reader.peekByte(), let units = reader.peekByte(at: 1) else { return .malformedIP }
                let length = (Int(units) + 2) * 4
                guard reader.skip(length) else { return .malformedIP }
                declared -= length
                next = nextHeader
            case 44:
                guard let nextHeader = reader.peekByte(), let field = reader.peekInteger(as: UInt16.self, at: 2),
                      reader.skip(8) else { return .malformedIP }
                declared -= 8
                // An atomic fragment (offset 0, no more fragments) is a whole packet.
                if field & 0xFFF9 != 0 { return .fragment }
                next = nextHeader
            default:
                return decodeTransport(next, declaredLength: declared, truncated: truncated, &reader, into: &packet)
            }
            headers += 1
            if headers > maxIPv6ExtensionHeaders { return .tooManyLayers }
        }
    }

    private static func decodeTransport(_ proto: UInt8, declaredLength: Int, truncated: Bool, _ reader: inout ByteReader, into packet: inout DecodedPacket) -> PacketSkipReason? {
        switch proto {
        case TransportProtocol.tcp.rawValue:
            guard let sourcePort = reader.peekInteger(as: UInt16.self),
                  let destinationPort = reader.peekInteger(as: UInt16.self, at: 2),
                  let sequence = reader.peekInteger(as: UInt32.self, at: 4),
                  let acknowledgment = reader.peekInteger(as: UInt32.self, at: 8),
                  let offsetByte = reader.peekByte(at: 12),
                  let flags = reader.peekByte(at: 13)
            else { return .malformedTransport }
            let headerLength = Int(offsetByte >> 4) * 4
            guard headerLength >= 20, declaredLength >= headerLength, reader.skip(headerLength) else { return .malformedTransport }
            packet.transport = .tcp
            packet.sourcePort = sourcePort
            packet.destinationPort = destinationPort
            packet.sequenceNumber = sequence
            packet.acknowledgmentNumber = acknowledgment
            packet.tcpFlags = TCPFlags(rawValue: flags)
            packet.declaredPayloadLength = declaredLength - headerLength
        case TransportProtocol.udp.rawValue:
            guard let sourcePort = reader.peekInteger(as: UInt16.self),
                  let destinationPort = reader.peekInteger(as: UInt16.self, at: 2),
                  let length = reader.peekInteger(as: UInt16.self, at: 4),
                  reader.skip(8)
            else { return .malformedTransport }
            // UDP length 0 is legal only for IPv6 jumbograms; otherwise it must cover the header.
            let udpDeclared = length == 0 ? declaredLength : Int(length)
            guard udpDeclared >= 8, udpDeclared <= declaredLength else { return .malformedTransport }
            packet.transport = .udp
            packet.sourcePort = sourcePort
            packet.destinationPort = destinationPort
            packet.declaredPayloadLength = udpDeclared - 8
        default:
            return .otherTransport
        }
        packet.payloadOffset = reader.offset
        packet.payloadLength = min(reader.remaining, packet.declaredPayloadLength)
        packet.isTruncated = truncated || packet.payloadLength < packet.declaredPayloadLength
        return nil
    }
}

/// The error form of `PacketSkipReason`, for `Result`.
public struct PacketSkipError: Error, Sendable, Equatable {
    /// Why the frame was skipped.
    public var reason: PacketSkipReason
}
