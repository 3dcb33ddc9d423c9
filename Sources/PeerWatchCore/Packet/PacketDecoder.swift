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
    /// What keeps this flow apart from flows of the same 5-tuple in other address spaces (a
    /// digest of VLAN ids and tunnel endpoints and ids; 0 for none): part of the flow key.
    public var zone: UInt16 = 0
    /// The carriers the packet came through.
    public var carriers = CarrierSet()
    /// The link type it was captured on (to work out its `Carrier` again for a record).
    public var link = LinkType.ethernet
    /// For an IP fragment: which datagram it belongs to and where its bytes go (the payload
    /// fields then give the fragment's data, and the transport fields are not set).
    public var fragment = FragmentFields()
    /// Whether this packet was put back together from fragments (its payload then lies in the
    /// reassembled datagram, not in a frame).
    public var isReassembled = false

    public init() {}
}

/// An IP fragment's place in its datagram, packed small (it rides in every `DecodedPacket`).
public struct FragmentFields: Sendable, Equatable {
    /// The IPv4 or IPv6 identification.
    public var identification: UInt32 = 0
    /// Where the fragment's data goes, in 8-byte units.
    public var offsetUnits: UInt16 = 0
    /// The transport protocol (IPv4 protocol, or the fragment header's next header).
    public var proto: UInt8 = 0
    private var bits: UInt8 = 0

    public init() {}

    init(identification: UInt32, offsetUnits: UInt16, more: Bool, proto: UInt8) {
        self.identification = identification
        self.offsetUnits = offsetUnits
        self.proto = proto
        bits = 1 | (more ? 2 : 0)
    }

    /// Whether the packet is a fragment at all.
    public var isFragment: Bool { bits & 1 != 0 }
    /// Whether more fragments follow.
    public var more: Bool { bits & 2 != 0 }
    /// The byte offset of the fragment's data in the datagram's payload.
    public var offset: Int { Int(offsetUnits) * 8 }
}

/// Why a frame produced no `DecodedPacket`; each reason is a counter, never a log line.
public enum PacketSkipReason: Int, Sendable, CaseIterable, CustomStringConvertible {
    /// The link-layer header is cut short.
    case truncatedLinkHeader
    /// The frame carries something other than IPv4 or IPv6 (ARP, LLDP, ...).
    case notIP
    /// The IP header is cut short or inconsistent (bad version, length below header size).
    case malformedIP
    /// An IP fragment whose datagram could not be put back together (a bound, the timeout, a
    /// cut): counted once per fragment frame given up.
    case fragment
    /// A transport other than TCP and UDP (ICMP, ESP, ...).
    case otherTransport
    /// The TCP or UDP header is cut short or inconsistent.
    case malformedTransport
    /// Too many VLAN tags, MPLS labels, IPv6 or GTP-U extension headers, or carrier layers.
    case tooManyLayers
    /// A tunnel or label header is cut short or breaks its rules (GRE flags, an empty or
    /// overrunning GTP-U extension header, an ERSPAN version).
    case malformedTunnel

    public var description: String {
        switch self {
        case .truncatedLinkHeader: "truncated_link_header"
        case .notIP: "not_ip"
        case .malformedIP: "malformed_ip"
        case .fragment: "fragment"
        case .otherTransport: "other_transport"
        case .malformedTransport: "malformed_transport"
        case .tooManyLayers: "too_many_layers"
        case .malformedTunnel: "malformed_tunnel"
        }
    }
}

/// Decodes link, carrier, IP and transport headers through `ByteReader`; never traps, never
/// allocates.
///
/// Carriers stack in any order: each layer names the next (an EtherType, an IP protocol, a UDP
/// port, the first nibble after an MPLS stack), and the walk goes on until it reaches TCP or UDP
/// that is no tunnel, or gives up: past `maxLayers` layers (a loop or an absurd stack), past a
/// layer's own cap (`maxVLANTags`, `maxMPLSLabels`, `maxGTPExtensionHeaders`,
/// `maxIPv6ExtensionHeaders`), or at a header that is cut short or breaks its rules.
///
/// The flow a packet belongs to is its innermost 5-tuple plus a zone: a 16-bit digest of what
/// keeps overlapping address spaces apart. Into the zone go the VLAN ids (unless
/// `CarrierOptions.vlanTracking` is off) and, for each tunnel that is an address space of its
/// own (GRE, VXLAN, Geneve, GTP-U, IP in IP), its outer endpoints taken in either order (so both
/// directions of a flow meet) and its key or VNI. A GTP-U TEID differs between the uplink and
/// the downlink of one bearer, so it is reported, not keyed. ERSPAN and MPLS are how a copy of a
/// packet travelled, not an address space: they are reported, not keyed.
public enum PacketDecoder {
    /// 802.1Q tags in one frame, across all its Ethernet layers (QinQ uses two).
    public static let maxVLANTags = 4
    /// RFC 8200 recommends a small bounded chain; eight covers every real combination.
    public static let maxIPv6ExtensionHeaders = 8
    /// MPLS labels in one frame (core networks stack three or four; RFC 3032 sets no limit).
    public static let maxMPLSLabels = 8
    /// GTP-U extension headers in one G-PDU (TS 29.281 defines a handful).
    public static let maxGTPExtensionHeaders = 8
    /// Carrier layers in one frame: Ethernet, tags, labels, tunnels and IP headers together.
    public static let maxLayers = 24

    /// Decodes `frame` captured on `link`.
    /// - Returns: the packet (for an IP fragment, one whose `fragment.isFragment` is set, for a
    ///   `FragmentReassembler`), or the reason it was skipped.
    public static func decode(_ frame: UnsafeRawBufferPointer, link: LinkType, options: CarrierOptions = CarrierOptions()) -> Result<DecodedPacket, PacketSkipError> {
        var discard = Carrier.Discard()
        return decode(frame, link: link, options: options, recorder: &discard)
    }

    /// Decodes `frame` and tells `recorder` each carrier layer on the way.
    public static func decode<R: CarrierRecorder>(
        _ frame: UnsafeRawBufferPointer, link: LinkType, options: CarrierOptions, recorder: inout R
    ) -> Result<DecodedPacket, PacketSkipError> {
        var walk = Walk(reader: ByteReader(frame), options: options)
        walk.packet.link = link
        if let reason = walk.run(link: link, recorder: &recorder) {
            return .failure(PacketSkipError(reason: reason))
        }
        return .success(walk.packet)
    }

    /// How `frame` arrived: its VLANs, labels, PPPoE session and tunnels (for a record; the
    /// packet path never calls it). Layers up to where decoding stopped are given.
    public static func carrier(of frame: UnsafeRawBufferPointer, link: LinkType, options: CarrierOptions = CarrierOptions()) -> Carrier {
        var carrier = Carrier()
        _ = decode(frame, link: link, options: options, recorder: &carrier)
        return carrier
    }

    /// Decodes a datagram `FragmentReassembler` put together: its `payload` is what followed
    /// the IP header of `first` (one of its fragments, as decoded), through any tunnels inside.
    /// The packet keeps the fragments' zone and carriers, and is marked `isReassembled`.
    public static func decodeReassembled<R: CarrierRecorder>(
        _ payload: UnsafeRawBufferPointer, proto: UInt8, first: DecodedPacket, options: CarrierOptions, recorder: inout R
    ) -> Result<DecodedPacket, PacketSkipError> {
        var walk = Walk(reader: ByteReader(payload), options: options)
        walk.packet.link = first.link
        walk.packet.source = first.source
        walk.packet.destination = first.destination
        walk.packet.carriers = first.carriers
        walk.baseZone = first.zone
        walk.packet.isReassembled = true
        if let reason = walk.resume(proto: proto, recorder: &recorder) { return .failure(PacketSkipError(reason: reason)) }
        return .success(walk.packet)
    }

    /// The next layer to decode, the reader standing at its first byte.
    private enum Layer {
        /// An Ethernet header (destination MAC first).
        case ethernet
        /// What follows an EtherType (or a GRE or Geneve protocol type).
        case etherType(UInt16)
        /// An MPLS label stack entry.
        case mpls
        case ipv4
        case ipv6
        /// IPv4 or IPv6, by the version nibble.
        case ipByVersion
    }

    /// One walk through a frame's layers.
    private struct Walk {
        var reader: ByteReader
        let options: CarrierOptions
        var packet = DecodedPacket()
        var zone: UInt64 = 0
        /// The zone of the fragments a reassembled datagram came in (mixed on from there).
        var baseZone: UInt16 = 0
        var layers = 0
        var tags = 0
        var labels = 0

        init(reader: ByteReader, options: CarrierOptions) {
            self.reader = reader
            self.options = options
        }

        mutating func run<R: CarrierRecorder>(link: LinkType, recorder: inout R) -> PacketSkipReason? {
            var layer: Layer
            switch link {
            case .ethernet:
                layer = .ethernet
            case .linuxSLL:
                guard reader.skip(14), let type = reader.readInteger(as: UInt16.self) else { return .truncatedLinkHeader }
                layer = .etherType(type)
            case .linuxSLL2:
                guard let type = reader.readInteger(as: UInt16.self), reader.skip(18) else { return .truncatedLinkHeader }
                layer = .etherType(type)
            case .raw:
                guard reader.peekByte() != nil else { return .truncatedLinkHeader }
                layer = .ipByVersion
            case .rawIPv4:
                layer = .ipv4
            case .rawIPv6:
                layer = .ipv6
            case .null, .loop:
                // The family is host order for DLT_NULL, network order for DLT_LOOP; accept either, as
                // a capture may come from a host of the other byte order.
                guard let big = reader.readInteger(as: UInt32.self) else { return .truncatedLinkHeader }
                let little = big.byteSwapped
                if big == 2 || little == 2 {
                    layer = .ipv4
                } else {
                    switch (big, little) {
                    case (10, _), (24, _), (28, _), (30, _), (_, 10), (_, 24), (_, 28), (_, 30): layer = .ipv6
                    default: return .notIP
                    }
                }
            }
            return walk(from: layer, recorder: &recorder)
        }

        /// Goes on from a reassembled datagram's payload, as from the IP header it followed.
        mutating func resume<R: CarrierRecorder>(proto: UInt8, recorder: inout R) -> PacketSkipReason? {
            switch afterIP(proto, declaredLength: reader.remaining, truncated: false, recorder: &recorder) {
            case .success(let layer): return walk(from: layer, recorder: &recorder)
            case .failure(let stop):
                if stop.reason == nil { finishZone() }
                return stop.reason
            }
        }

        private mutating func finishZone() {
            packet.zone = zone == 0 ? baseZone : Self.fold(zone ^ UInt64(baseZone) &* 0x2545_F491_4F6C_DD1D)
        }

        private mutating func walk<R: CarrierRecorder>(from first: Layer, recorder: inout R) -> PacketSkipReason? {
            var layer = first
            while true {
                layers &+= 1
                guard layers <= maxLayers else { return .tooManyLayers }
                let next: Result<Layer, Stop>
                switch layer {
                case .ethernet:
                    guard reader.skip(12), let type = reader.readInteger(as: UInt16.self) else { return .truncatedLinkHeader }
                    next = .success(.etherType(type))
                case .etherType(let type):
                    next = etherType(type, recorder: &recorder)
                case .mpls:
                    next = mpls(recorder: &recorder)
                case .ipByVersion:
                    guard let first = reader.peekByte() else { return .malformedIP }
                    switch first >> 4 {
                    case 4: next = .success(.ipv4)
                    case 6: next = .success(.ipv6)
                    default: return .notIP
                    }
                case .ipv4:
                    next = ipv4(recorder: &recorder)
                case .ipv6:
                    next = ipv6(recorder: &recorder)
                }
                switch next {
                case .success(let inner): layer = inner
                case .failure(let stop):
                    if let reason = stop.reason { return reason }
                    finishZone()
                    return nil
                }
            }
        }

        /// Where a walk ends: at a transport (no reason) or skipped.
        struct Stop: Error {
            var reason: PacketSkipReason?
            static let done = Stop(reason: nil)
        }

        private mutating func etherType<R: CarrierRecorder>(_ type: UInt16, recorder: inout R) -> Result<Layer, Stop> {
            switch type {
            case 0x0800:
                return .success(.ipv4)
            case 0x86DD:
                return .success(.ipv6)
            case 0x8100, 0x88A8, 0x9100:
                tags &+= 1
                guard tags <= maxVLANTags else { return .failure(Stop(reason: .tooManyLayers)) }
                guard let tci = reader.readInteger(as: UInt16.self), let inner = reader.readInteger(as: UInt16.self) else {
                    return .failure(Stop(reason: .truncatedLinkHeader))
                }
                let id = tci & 0x0FFF
                packet.carriers.insert(CarrierSet(.vlan))
                recorder.vlan(id)
                if options.vlanTracking { mix(0x7600_0000 | UInt64(id)) }
                return .success(.etherType(inner))
            case 0x8864:
                // PPPoE session (RFC 2516): ver/type, code, session, length, then the PPP protocol.
                guard reader.skip(2), let session = reader.readInteger(as: UInt16.self), reader.skip(2),
                      let ppp = reader.readInteger(as: UInt16.self) else { return .failure(Stop(reason: .truncatedLinkHeader)) }
                packet.carriers.insert(CarrierSet(.pppoe))
                recorder.pppoe(session)
                switch ppp {
                case 0x0021: return .success(.ipv4)
                case 0x0057: return .success(.ipv6)
                default: return .failure(Stop(reason: .notIP))
                }
            case 0x8847, 0x8848:
                return .success(.mpls)
            default:
                return .failure(Stop(reason: .notIP))
            }
        }

        /// RFC 3032 label stack entries to the bottom of the stack, then the payload by its first
        /// nibble (RFC 4385): 4 and 6 are IP, 0 is a pseudowire control word before an Ethernet
        /// frame, 1 an associated channel (not data), anything else an Ethernet frame without a
        /// control word.
        private mutating func mpls<R: CarrierRecorder>(recorder: inout R) -> Result<Layer, Stop> {
            packet.carriers.insert(CarrierSet(.mpls))
            while true {
                labels &+= 1
                guard labels <= maxMPLSLabels else { return .failure(Stop(reason: .tooManyLayers)) }
                guard let entry = reader.readInteger(as: UInt32.self) else { return .failure(Stop(reason: .malformedTunnel)) }
                recorder.mpls(entry >> 12)
                if entry & 0x100 != 0 { break }
            }
            guard let first = reader.peekByte() else { return .failure(Stop(reason: .malformedTunnel)) }
            switch first >> 4 {
            case 4: return .success(.ipv4)
            case 6: return .success(.ipv6)
            case 0:
                guard reader.skip(4) else { return .failure(Stop(reason: .malformedTunnel)) }
                return .success(.ethernet)
            case 1: return .failure(Stop(reason: .notIP))
            default: return .success(.ethernet)
            }
        }

        /// RFC 791: validates version, header length and total length; trims link padding.
        private mutating func ipv4<R: CarrierRecorder>(recorder: inout R) -> Result<Layer, Stop> {
            guard let versionIHL = reader.peekByte(), versionIHL >> 4 == 4,
                  let totalLength = reader.peekInteger(as: UInt16.self, at: 2),
                  let identification = reader.peekInteger(as: UInt16.self, at: 4),
                  let fragmentField = reader.peekInteger(as: UInt16.self, at: 6),
                  let proto = reader.peekByte(at: 9),
                  let source = reader.peekInteger(as: UInt32.self, at: 12),
                  let destination = reader.peekInteger(as: UInt32.self, at: 16)
            else { return .failure(Stop(reason: .malformedIP)) }
            let headerLength = Int(versionIHL & 0x0F) * 4
            guard headerLength >= 20, Int(totalLength) >= headerLength, reader.skip(headerLength) else { return .failure(Stop(reason: .malformedIP)) }
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
            if moreFragments || fragmentOffset != 0 {
                packet.fragment = FragmentFields(identification: UInt32(identification), offsetUnits: fragmentOffset, more: moreFragments, proto: proto)
                return fragmentData(declared: declared, truncated: truncated)
            }
            return afterIP(proto, declaredLength: declared, truncated: truncated, recorder: &recorder)
        }

        /// RFC 8200: fixed header, then a bounded walk of extension headers to the transport.
        private mutating func ipv6<R: CarrierRecorder>(recorder: inout R) -> Result<Layer, Stop> {
            guard let first = reader.peekByte(), first >> 4 == 6,
                  let payloadLength = reader.peekInteger(as: UInt16.self, at: 4),
                  var next = reader.peekByte(at: 6),
                  let sourceHigh = reader.peekInteger(as: UInt64.self, at: 8),
                  let sourceLow = reader.peekInteger(as: UInt64.self, at: 16),
                  let destinationHigh = reader.peekInteger(as: UInt64.self, at: 24),
                  let destinationLow = reader.peekInteger(as: UInt64.self, at: 32),
                  reader.skip(40)
            else { return .failure(Stop(reason: .malformedIP)) }
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
                case 0, 43, 60, 135, 139, 140, 51:
                    // Hop-by-hop, routing, destination options, mobility, HIP, shim6: length in
                    // 8-octet units; the authentication header (51): in 4-octet units, minus two.
                    guard let nextHeader = reader.peekByte(), let units = reader.peekByte(at: 1) else { return .failure(Stop(reason: .malformedIP)) }
                    let length = next == 51 ? (Int(units) + 2) * 4 : (Int(units) + 1) * 8
                    guard reader.skip(length) else { return .failure(Stop(reason: .malformedIP)) }
                    declared -= length
                    next = nextHeader
                case 44:
                    guard let nextHeader = reader.peekByte(), let field = reader.peekInteger(as: UInt16.self, at: 2),
                          let identification = reader.peekInteger(as: UInt32.self, at: 4),
                          reader.skip(8) else { return .failure(Stop(reason: .malformedIP)) }
                    declared -= 8
                    // An atomic fragment (offset 0, no more fragments) is a whole packet.
                    if field & 0xFFF9 != 0 {
                        guard declared >= 0 else { return .failure(Stop(reason: .malformedIP)) }
                        packet.fragment = FragmentFields(identification: identification, offsetUnits: field >> 3, more: field & 1 != 0, proto: nextHeader)
                        return fragmentData(declared: declared, truncated: truncated)
                    }
                    next = nextHeader
                default:
                    return afterIP(next, declaredLength: declared, truncated: truncated, recorder: &recorder)
                }
                headers += 1
                if headers > maxIPv6ExtensionHeaders { return .failure(Stop(reason: .tooManyLayers)) }
            }
        }

        /// Ends the walk at a fragment: its data is the payload, for the reassembler.
        private mutating func fragmentData(declared: Int, truncated: Bool) -> Result<Layer, Stop> {
            packet.payloadOffset = reader.offset
            packet.declaredPayloadLength = declared
            packet.payloadLength = min(reader.remaining, declared)
            packet.isTruncated = truncated || packet.payloadLength < declared
            return .failure(.done)
        }

        /// What an IP header's protocol leads to: a tunnel, or the transport (the walk's end).
        private mutating func afterIP<R: CarrierRecorder>(_ proto: UInt8, declaredLength: Int, truncated: Bool, recorder: inout R) -> Result<Layer, Stop> {
            switch proto {
            case 4, 41:
                packet.carriers.insert(CarrierSet(.ipInIP))
                recorder.tunnel(Carrier.Tunnel(kind: .ipInIP, outerSource: packet.source, outerDestination: packet.destination))
                mixOuterEndpoints()
                return .success(proto == 4 ? .ipv4 : .ipv6)
            case 47:
                return gre(recorder: &recorder)
            case TransportProtocol.udp.rawValue:
                if let destinationPort = reader.peekInteger(as: UInt16.self, at: 2), let sourcePort = reader.peekInteger(as: UInt16.self) {
                    if options.vxlanPorts.contains(destinationPort), let layer = vxlan(recorder: &recorder) { return layer }
                    if options.genevePorts.contains(destinationPort), let layer = geneve(recorder: &recorder) { return layer }
                    if options.gtpuPorts.contains(destinationPort) || options.gtpuPorts.contains(sourcePort), let layer = gtpu(recorder: &recorder) { return layer }
                }
                return .failure(Stop(reason: transport(proto, declaredLength: declaredLength, truncated: truncated)))
            default:
                return .failure(Stop(reason: transport(proto, declaredLength: declaredLength, truncated: truncated)))
            }
        }

        /// GRE version 0 (RFC 2784 with RFC 2890's key and sequence number): optional checksum,
        /// key and sequence fields, then the payload by its protocol type. ERSPAN (type I without
        /// a sequence number, type II with one, type III) rides on GRE with its own types.
        private mutating func gre<R: CarrierRecorder>(recorder: inout R) -> Result<Layer, Stop> {
            guard let flags = reader.readInteger(as: UInt16.self), let proto = reader.readInteger(as: UInt16.self) else {
                return .failure(Stop(reason: .malformedTunnel))
            }
            // Version 1 is PPTP's enhanced GRE, which carries PPP: not decoded.
            guard flags & 0x0007 == 0 else { return .failure(Stop(reason: .otherTransport)) }
            // Routing (RFC 1701), strict source routing, recursion and the reserved bits are zero.
            guard flags & 0x4FF8 == 0 else { return .failure(Stop(reason: .malformedTunnel)) }
            let hasChecksum = flags & 0x8000 != 0, hasKey = flags & 0x2000 != 0, hasSequence = flags & 0x1000 != 0
            if hasChecksum { guard reader.skip(4) else { return .failure(Stop(reason: .malformedTunnel)) } }
            var key: UInt32?
            if hasKey {
                guard let value = reader.readInteger(as: UInt32.self) else { return .failure(Stop(reason: .malformedTunnel)) }
                key = value
            }
            if hasSequence { guard reader.skip(4) else { return .failure(Stop(reason: .malformedTunnel)) } }
            let outerSource = packet.source, outerDestination = packet.destination
            packet.carriers.insert(CarrierSet(.gre))
            recorder.tunnel(Carrier.Tunnel(kind: .gre, outerSource: outerSource, outerDestination: outerDestination, id: key))
            switch proto {
            case 0x88BE, 0x22EB:
                return erspan(type: proto == 0x22EB ? 3 : hasSequence ? 2 : 1, outerSource: outerSource, outerDestination: outerDestination, recorder: &recorder)
            case 0x6558:
                mixOuterEndpoints()
                if let key { mix(UInt64(key) | 0x4B00_0000_0000) }
                return .success(.ethernet)
            default:
                mixOuterEndpoints()
                if let key { mix(UInt64(key) | 0x4B00_0000_0000) }
                return .success(.etherType(proto))
            }
        }

        /// ERSPAN: type I has no header of its own; type II an 8-byte one (version 1); type III
        /// a 12-byte one (version 2), an 8-byte platform sub-header when its O bit is set, and a
        /// frame type (Ethernet or IP).
        private mutating func erspan<R: CarrierRecorder>(type: UInt8, outerSource: IPAddress, outerDestination: IPAddress, recorder: inout R) -> Result<Layer, Stop> {
            packet.carriers.insert(CarrierSet(.erspan))
            var session: UInt32?
            var next = Layer.ethernet
            switch type {
            case 2:
                guard let word = reader.peekInteger(as: UInt32.self), word >> 28 == 1, reader.skip(8) else { return .failure(Stop(reason: .malformedTunnel)) }
                session = word & 0x3FF
            case 3:
                guard let word = reader.peekInteger(as: UInt32.self), word >> 28 == 2,
                      let tail = reader.peekInteger(as: UInt16.self, at: 10), reader.skip(12) else { return .failure(Stop(reason: .malformedTunnel)) }
                session = word & 0x3FF
                if tail & 1 != 0 { guard reader.skip(8) else { return .failure(Stop(reason: .malformedTunnel)) } }
                switch (tail >> 10) & 0x1F {
                case 0: next = .ethernet
                case 2: next = .ipByVersion
                default: return .failure(Stop(reason: .notIP))
                }
            default:
                break
            }
            recorder.tunnel(Carrier.Tunnel(kind: .erspan, outerSource: outerSource, outerDestination: outerDestination, id: session, version: type))
            return .success(next)
        }

        /// VXLAN (RFC 7348): flags with the I bit, 24-bit VNI, then an Ethernet frame. Nil when
        /// the header is not VXLAN's (the datagram is then plain UDP on that port).
        private mutating func vxlan<R: CarrierRecorder>(recorder: inout R) -> Result<Layer, Stop>? {
            guard let flags = reader.peekByte(at: 8), flags & 0x08 != 0, let word = reader.peekInteger(as: UInt32.self, at: 12),
                  reader.remaining >= 16 + 14 else { return nil }
            let outerSource = packet.source, outerDestination = packet.destination
            _ = reader.skip(16)
            let vni = word >> 8
            packet.carriers.insert(CarrierSet(.vxlan))
            recorder.tunnel(Carrier.Tunnel(kind: .vxlan, outerSource: outerSource, outerDestination: outerDestination, id: vni))
            mixOuterEndpoints()
            mix(UInt64(vni) | 0x5600_0000_0000)
            return .success(.ethernet)
        }

        /// Geneve (RFC 8926): version 0, options in 4-byte units, a protocol type, 24-bit VNI.
        /// Nil when the header is not Geneve's.
        private mutating func geneve<R: CarrierRecorder>(recorder: inout R) -> Result<Layer, Stop>? {
            guard let first = reader.peekByte(at: 8), first >> 6 == 0, let proto = reader.peekInteger(as: UInt16.self, at: 10),
                  let word = reader.peekInteger(as: UInt32.self, at: 12) else { return nil }
            let length = 16 + Int(first & 0x3F) * 4
            guard reader.skip(length) else { return .failure(Stop(reason: .malformedTunnel)) }
            let vni = word >> 8
            packet.carriers.insert(CarrierSet(.geneve))
            recorder.tunnel(Carrier.Tunnel(kind: .geneve, outerSource: packet.source, outerDestination: packet.destination, id: vni))
            mixOuterEndpoints()
            mix(UInt64(vni) | 0x4700_0000_0000)
            return .success(proto == 0x6558 ? .ethernet : .etherType(proto))
        }

        /// GTP-U (3GPP TS 29.281): version 1, protocol type GTP, a G-PDU; the optional sequence
        /// number, N-PDU number and next extension type; the extension-header chain (each in
        /// 4-octet units, its last byte naming the next); then an IPv4 or IPv6 packet, bounded by
        /// the header's length. Nil when the header is not GTP-U's.
        private mutating func gtpu<R: CarrierRecorder>(recorder: inout R) -> Result<Layer, Stop>? {
            guard let flags = reader.peekByte(at: 8), flags >> 5 == 1, flags & 0x10 != 0,
                  let type = reader.peekByte(at: 9), let length = reader.peekInteger(as: UInt16.self, at: 10),
                  let teid = reader.peekInteger(as: UInt32.self, at: 12) else { return nil }
            let outerSource = packet.source, outerDestination = packet.destination
            guard reader.skip(16) else { return nil }
            packet.carriers.insert(CarrierSet(.gtpu))
            // Echo, error indication, end marker: tunnel signalling, no subscriber packet.
            guard type == 0xFF else { return .failure(Stop(reason: .notIP)) }
            var left = Int(length)
            if left < reader.remaining { reader.truncate(toRemaining: left) }
            if flags & 0x07 != 0 {
                guard let nextType = reader.peekByte(at: 3), reader.skip(4) else { return .failure(Stop(reason: .malformedTunnel)) }
                left -= 4
                var next = nextType
                var count = 0
                while next != 0 {
                    count += 1
                    guard count <= maxGTPExtensionHeaders else { return .failure(Stop(reason: .tooManyLayers)) }
                    guard let units = reader.peekByte(), units > 0 else { return .failure(Stop(reason: .malformedTunnel)) }
                    let size = Int(units) * 4
                    guard let following = reader.peekByte(at: size - 1), reader.skip(size) else { return .failure(Stop(reason: .malformedTunnel)) }
                    left -= size
                    next = following
                }
            }
            guard left > 0 else { return .failure(Stop(reason: .malformedTunnel)) }
            recorder.tunnel(Carrier.Tunnel(kind: .gtpu, outerSource: outerSource, outerDestination: outerDestination, id: teid))
            mixOuterEndpoints()
            return .success(.ipByVersion)
        }

        /// Mixes the current IP header's endpoints, in either order, into the zone.
        private mutating func mixOuterEndpoints() {
            let (low, high) = packet.source <= packet.destination ? (packet.source, packet.destination) : (packet.destination, packet.source)
            mix(low.high)
            mix(low.low)
            mix(high.high)
            mix(high.low ^ UInt64(low.family.rawValue) << 60)
        }

        @inline(__always)
        private mutating func mix(_ value: UInt64) {
            zone = (zone ^ value) &* 0x9E37_79B9_7F4A_7C15
            zone ^= zone >> 29
        }

        private mutating func transport(_ proto: UInt8, declaredLength: Int, truncated: Bool) -> PacketSkipReason? {
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

        /// The zone digest folded to 16 bits; 0 only where nothing keeps the flow apart.
        static func fold(_ zone: UInt64) -> UInt16 {
            guard zone != 0 else { return 0 }
            let folded = UInt16(truncatingIfNeeded: zone ^ zone >> 16 ^ zone >> 32 ^ zone >> 48)
            return folded == 0 ? 1 : folded
        }
    }
}

/// The error form of `PacketSkipReason`, for `Result`.
public struct PacketSkipError: Error, Sendable, Equatable {
    /// Why the frame was skipped.
    public var reason: PacketSkipReason
}
