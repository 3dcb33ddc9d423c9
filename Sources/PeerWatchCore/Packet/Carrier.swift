/// The carriers a packet can arrive through on its way to its innermost IP header, one bit each
/// in `CarrierSet` and one counter each in `EngineCounters.carrierPackets`.
public enum CarrierKind: Int, Sendable, CaseIterable, CustomStringConvertible {
    /// 802.1Q or 802.1ad VLAN tags (any number, up to `PacketDecoder.maxVLANTags`).
    case vlan
    /// A PPPoE session (RFC 2516).
    case pppoe
    /// An MPLS label stack (RFC 3032), with or without an Ethernet pseudowire (RFC 4448).
    case mpls
    /// GRE (RFC 2784, 2890), version 0.
    case gre
    /// ERSPAN type I, II or III inside GRE.
    case erspan
    /// VXLAN (RFC 7348).
    case vxlan
    /// Geneve (RFC 8926).
    case geneve
    /// GTP-U G-PDUs (3GPP TS 29.281).
    case gtpu
    /// IPv4 or IPv6 directly inside IPv4 or IPv6 (protocols 4 and 41: 4in4, 6in4, 4in6, 6in6).
    case ipInIP

    /// The name in metrics, `status` and alert records.
    public var description: String {
        switch self {
        case .vlan: "vlan"
        case .pppoe: "pppoe"
        case .mpls: "mpls"
        case .gre: "gre"
        case .erspan: "erspan"
        case .vxlan: "vxlan"
        case .geneve: "geneve"
        case .gtpu: "gtpu"
        case .ipInIP: "ip_in_ip"
        }
    }
}

/// Which carriers a packet came through (the hot path's summary; `Carrier` has the details).
public struct CarrierSet: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }
    /// The set holding `kind` alone.
    public init(_ kind: CarrierKind) { rawValue = 1 << UInt16(kind.rawValue) }
    /// Whether `kind` is in the set.
    public func contains(_ kind: CarrierKind) -> Bool { rawValue & 1 << UInt16(kind.rawValue) != 0 }
}

/// A small set of UDP ports, held inline (no array on the packet path); port 0 is never in it.
public struct PortSet: Sendable, Equatable, CustomStringConvertible {
    private var ports: (UInt16, UInt16, UInt16, UInt16) = (0, 0, 0, 0)
    /// The most ports a set holds.
    public static let capacity = 4

    /// A set of up to `capacity` ports (zeros and ports past the capacity are left out).
    public init(_ list: [UInt16]) {
        let kept = list.filter { $0 != 0 }
        ports = (kept.count > 0 ? kept[0] : 0, kept.count > 1 ? kept[1] : 0, kept.count > 2 ? kept[2] : 0, kept.count > 3 ? kept[3] : 0)
    }

    /// Whether `port` is in the set.
    @inline(__always)
    public func contains(_ port: UInt16) -> Bool {
        port != 0 && (port == ports.0 || port == ports.1 || port == ports.2 || port == ports.3)
    }

    /// The ports, in the order given.
    public var list: [UInt16] { [ports.0, ports.1, ports.2, ports.3].filter { $0 != 0 } }

    public var description: String { list.map(String.init).joined(separator: ",") }

    public static func == (lhs: PortSet, rhs: PortSet) -> Bool { lhs.list == rhs.list }
}

/// How frames are decoded through their carriers: the UDP ports tunnels arrive on, and what
/// keeps flows apart.
public struct CarrierOptions: Sendable, Equatable {
    /// UDP destination ports of VXLAN (IANA 4789; some operators use 8472 or others).
    public var vxlanPorts = PortSet([4789])
    /// UDP destination ports of Geneve (IANA 6081).
    public var genevePorts = PortSet([6081])
    /// UDP ports of GTP-U (2152), either side.
    public var gtpuPorts = PortSet([2152])
    /// Whether VLAN ids keep flows apart (Suricata's `vlan.use-for-tracking`). Turn it off for
    /// taps where the two directions of a flow arrive on different VLANs.
    public var vlanTracking = true

    public init() {}
}

/// How a packet arrived, in full: what an alert reports in its `carrier` object. Worked out
/// from the frame only when a record needs it (a match), never on the packet path.
public struct Carrier: Sendable, Equatable {
    /// One tunnel a packet came through, outermost first.
    public struct Tunnel: Sendable, Equatable {
        /// The tunnel's kind (`gre`, `erspan`, `vxlan`, `geneve`, `gtpu`, `ip_in_ip`).
        public var kind: CarrierKind
        /// The outer header's source and destination.
        public var outerSource: IPAddress
        public var outerDestination: IPAddress
        /// The tunnel's id where it has one: the GRE key, the ERSPAN session, the VXLAN or
        /// Geneve VNI, the GTP-U TEID.
        public var id: UInt32?
        /// The ERSPAN type (1, 2 or 3); nil for other kinds.
        public var version: UInt8?

        public init(kind: CarrierKind, outerSource: IPAddress, outerDestination: IPAddress, id: UInt32? = nil, version: UInt8? = nil) {
            self.kind = kind
            self.outerSource = outerSource
            self.outerDestination = outerDestination
            self.id = id
            self.version = version
        }
    }

    /// VLAN ids, outermost first (across all Ethernet layers).
    public var vlans: [UInt16] = []
    /// MPLS labels, top of stack first.
    public var mplsLabels: [UInt32] = []
    /// The PPPoE session id, where the frame had one.
    public var pppoeSession: UInt16?
    /// Tunnels, outermost first.
    public var tunnels: [Tunnel] = []
    /// Whether the packet was put back together from IP fragments.
    public var reassembled = false

    public init(vlans: [UInt16] = [], mplsLabels: [UInt32] = [], pppoeSession: UInt16? = nil, tunnels: [Tunnel] = [], reassembled: Bool = false) {
        self.vlans = vlans
        self.mplsLabels = mplsLabels
        self.pppoeSession = pppoeSession
        self.tunnels = tunnels
        self.reassembled = reassembled
    }

    /// Whether the packet came as plain Ethernet (or bare IP) with nothing around it.
    public var isEmpty: Bool { vlans.isEmpty && mplsLabels.isEmpty && pppoeSession == nil && tunnels.isEmpty && !reassembled }
}

/// Receives each carrier layer as the decoder walks through it. The packet path uses one that
/// keeps nothing (`Carrier.Discard`); a record's `Carrier` is worked out with `Carrier` itself.
public protocol CarrierRecorder {
    mutating func vlan(_ id: UInt16)
    mutating func mpls(_ label: UInt32)
    mutating func pppoe(_ session: UInt16)
    mutating func tunnel(_ tunnel: Carrier.Tunnel)
}

extension Carrier: CarrierRecorder {
    public mutating func vlan(_ id: UInt16) { vlans.append(id) }
    public mutating func mpls(_ label: UInt32) { mplsLabels.append(label) }
    public mutating func pppoe(_ session: UInt16) { pppoeSession = session }
    public mutating func tunnel(_ tunnel: Tunnel) { tunnels.append(tunnel) }

    /// A recorder that keeps nothing: the packet path's.
    public struct Discard: CarrierRecorder {
        public init() {}
        @inline(__always) public mutating func vlan(_ id: UInt16) {}
        @inline(__always) public mutating func mpls(_ label: UInt32) {}
        @inline(__always) public mutating func pppoe(_ session: UInt16) {}
        @inline(__always) public mutating func tunnel(_ tunnel: Tunnel) {}
    }
}
