/// A flow's identity, canonical so that both directions of a conversation give the same key:
/// the lower (address, port) endpoint always comes first. Its hash is therefore symmetric, and
/// a pipeline shards flows across workers by it.
///
/// Held in 40 bytes of plain words (no padding between two `IPAddress` values), so that a flow
/// slot stays small: both addresses' two halves, both ports, the transport and the family.
public struct FlowKey: Hashable, Sendable {
    private let lowAddressHigh: UInt64, lowAddressLow: UInt64
    private let highAddressHigh: UInt64, highAddressLow: UInt64
    /// The lower endpoint's port in the high half, the higher's in the low half.
    private let ports: UInt32
    /// The transport in the low byte, the address family in the next.
    private let kinds: UInt16
    /// What keeps overlapping address spaces apart (a VLAN or tunnel id; 0 for none).
    public let zone: UInt16

    /// The key of `packet`'s flow, and whether the packet's sender is the lower endpoint.
    public static func of(_ packet: DecodedPacket) -> (key: FlowKey, senderIsLow: Bool) {
        let senderIsLow = (packet.source, packet.sourcePort) <= (packet.destination, packet.destinationPort)
        let key = senderIsLow
            ? FlowKey(low: packet.source, lowPort: packet.sourcePort, high: packet.destination, highPort: packet.destinationPort, transport: packet.transport, zone: packet.zone)
            : FlowKey(low: packet.destination, lowPort: packet.destinationPort, high: packet.source, highPort: packet.sourcePort, transport: packet.transport, zone: packet.zone)
        return (key, senderIsLow)
    }

    /// Builds a key from two endpoints in any order.
    public init(_ a: Endpoint, _ b: Endpoint, transport: TransportProtocol, zone: UInt16 = 0) {
        let aIsLow = (a.address, a.port) <= (b.address, b.port)
        let (low, high) = aIsLow ? (a, b) : (b, a)
        self.init(low: low.address, lowPort: low.port, high: high.address, highPort: high.port, transport: transport, zone: zone)
    }

    private init(low: IPAddress, lowPort: UInt16, high: IPAddress, highPort: UInt16, transport: TransportProtocol, zone: UInt16 = 0) {
        lowAddressHigh = low.high
        lowAddressLow = low.low
        highAddressHigh = high.high
        highAddressLow = high.low
        ports = UInt32(lowPort) << 16 | UInt32(highPort)
        kinds = UInt16(low.family.rawValue) << 8 | UInt16(transport.rawValue)
        self.zone = zone
    }

    private var family: IPAddress.Family { IPAddress.Family(rawValue: UInt8(truncatingIfNeeded: kinds >> 8)) ?? .v4 }

    /// The lower endpoint's address.
    public var lowAddress: IPAddress {
        family == .v4 ? IPAddress(ipv4: UInt32(truncatingIfNeeded: lowAddressLow)) : IPAddress(ipv6High: lowAddressHigh, low: lowAddressLow)
    }
    /// The higher endpoint's address.
    public var highAddress: IPAddress {
        family == .v4 ? IPAddress(ipv4: UInt32(truncatingIfNeeded: highAddressLow)) : IPAddress(ipv6High: highAddressHigh, low: highAddressLow)
    }
    /// The lower endpoint's port.
    public var lowPort: UInt16 { UInt16(truncatingIfNeeded: ports >> 16) }
    /// The higher endpoint's port.
    public var highPort: UInt16 { UInt16(truncatingIfNeeded: ports) }
    /// TCP or UDP.
    public var transport: TransportProtocol { TransportProtocol(rawValue: UInt8(truncatingIfNeeded: kinds)) ?? .tcp }

    /// The lower endpoint.
    public var low: Endpoint { Endpoint(address: lowAddress, port: lowPort) }
    /// The higher endpoint.
    public var high: Endpoint { Endpoint(address: highAddress, port: highPort) }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(fastHash)
    }

    /// The key's hash with no seed; see `fastHash(seed:)`.
    public var fastHash: UInt64 { fastHash(seed: 0) }

    /// The key's hash: multiply-and-fold of the key's words and `seed` (the wyhash mixer).
    /// Computed once per packet; it finds the flow in its table and picks the worker that owns
    /// it. A sensor draws its seed at start, as Suricata does, so that no one can craft
    /// addresses that all land on one run of the table's index.
    @inline(__always)
    public func fastHash(seed: UInt64) -> UInt64 {
        @inline(__always) func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
            let product = a.multipliedFullWidth(by: b)
            return product.high ^ product.low
        }
        let tail = UInt64(ports) << 32 | UInt64(kinds) << 16 | UInt64(zone)
        let a = mix(lowAddressHigh ^ 0xA076_1D64_78BD_642F ^ seed, lowAddressLow ^ 0xE703_7ED1_A0B4_28DB)
        let b = mix(highAddressHigh ^ 0x8EBC_6AF0_9C88_C6E3, highAddressLow ^ 0x5899_65CC_7537_4CC3)
        return mix(a ^ tail ^ 0x1D8E_4E27_C47D_124F, b ^ 0xA076_1D64_78BD_642F)
    }

    /// A stable 64-bit hash (FNV-1a) of the key's words, from which flow ids are made: it is
    /// part of the records' contract (the same flow gets the same id on every sensor version).
    public var stableHash: UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        func mix(_ word: UInt64) {
            var w = word
            for _ in 0 ..< 8 {
                hash ^= w & 0xFF
                hash = hash &* 0x0000_0100_0000_01B3
                w >>= 8
            }
        }
        mix(lowAddressHigh); mix(lowAddressLow); mix(highAddressHigh); mix(highAddressLow)
        mix(UInt64(lowPort) << 32 | UInt64(highPort) << 16 | UInt64(transport.rawValue))
        return hash
    }
}

/// An address and port.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    /// The IP address.
    public var address: IPAddress
    /// The TCP or UDP port.
    public var port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    /// `192.0.2.1:6881`, or `[2001:db8::1]:6881` for IPv6.
    public var description: String {
        address.family == .v6 ? "[\(address)]:\(port)" : "\(address):\(port)"
    }
}
