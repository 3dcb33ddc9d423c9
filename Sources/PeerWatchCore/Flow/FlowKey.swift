/// A flow's identity, canonical so that both directions of a conversation give the same key:
/// the lower (address, port) endpoint always comes first. Its hash is therefore symmetric, and
/// a pipeline may shard flows across workers by it.
public struct FlowKey: Hashable, Sendable {
    /// The lower endpoint's address.
    public let lowAddress: IPAddress
    /// The higher endpoint's address.
    public let highAddress: IPAddress
    /// The lower endpoint's port.
    public let lowPort: UInt16
    /// The higher endpoint's port.
    public let highPort: UInt16
    /// TCP or UDP.
    public let transport: TransportProtocol

    /// The key of `packet`'s flow, and whether the packet's sender is the lower endpoint.
    public static func of(_ packet: DecodedPacket) -> (key: FlowKey, senderIsLow: Bool) {
        let senderIsLow = (packet.source, packet.sourcePort) <= (packet.destination, packet.destinationPort)
        let key = senderIsLow
            ? FlowKey(lowAddress: packet.source, highAddress: packet.destination, lowPort: packet.sourcePort,
                      highPort: packet.destinationPort, transport: packet.transport)
            : FlowKey(lowAddress: packet.destination, highAddress: packet.source, lowPort: packet.destinationPort,
                      highPort: packet.sourcePort, transport: packet.transport)
        return (key, senderIsLow)
    }

    /// Builds a key from two endpoints in any order.
    public init(_ a: Endpoint, _ b: Endpoint, transport: TransportProtocol) {
        let aIsLow = (a.address, a.port) <= (b.address, b.port)
        let (low, high) = aIsLow ? (a, b) : (b, a)
        self.init(lowAddress: low.address, highAddress: high.address, lowPort: low.port, highPort: high.port, transport: transport)
    }

    private init(lowAddress: IPAddress, highAddress: IPAddress, lowPort: UInt16, highPort: UInt16, transport: TransportProtocol) {
        self.lowAddress = lowAddress
        self.highAddress = highAddress
        self.lowPort = lowPort
        self.highPort = highPort
        self.transport = transport
    }

    /// The lower endpoint.
    public var low: Endpoint { Endpoint(address: lowAddress, port: lowPort) }
    /// The higher endpoint.
    public var high: Endpoint { Endpoint(address: highAddress, port: highPort) }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(lowAddress.high ^ highAddress.high &* 31)
        hasher.combine(lowAddress.low)
        hasher.combine(highAddress.low)
        hasher.combine(UInt64(lowPort) << 24 | UInt64(highPort) << 8 | UInt64(transport.rawValue))
    }

    /// A stable 64-bit hash (FNV-1a) of the key, independent of the process's hash seed.
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
        mix(lowAddress.high); mix(lowAddress.low); mix(highAddress.high); mix(highAddress.low)
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
