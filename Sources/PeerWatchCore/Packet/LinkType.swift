/// The link layers PeerWatch decodes, named by their libpcap DLT values.
public enum LinkType: Sendable, Hashable, CustomStringConvertible {
    /// DLT_EN10MB: Ethernet II, with any stack of 802.1Q / 802.1ad tags and PPPoE sessions.
    case ethernet
    /// DLT_LINUX_SLL: Linux "cooked" capture v1 (16-byte header).
    case linuxSLL
    /// DLT_LINUX_SLL2: Linux "cooked" capture v2 (20-byte header).
    case linuxSLL2
    /// DLT_RAW / LINKTYPE_RAW: bare IPv4 or IPv6, told apart by the version nibble.
    case raw
    /// LINKTYPE_IPV4: bare IPv4.
    case rawIPv4
    /// LINKTYPE_IPV6: bare IPv6.
    case rawIPv6
    /// DLT_NULL: BSD loopback, 4-byte address family in the capturing host's byte order.
    case null
    /// DLT_LOOP: OpenBSD loopback, 4-byte address family in network byte order.
    case loop

    /// Maps a libpcap data-link type to a decoder, or `nil` for a link type PeerWatch refuses.
    public init?(dlt: Int32) {
        switch dlt {
        case 1: self = .ethernet
        case 113: self = .linuxSLL
        case 276: self = .linuxSLL2
        case 12, 14, 101: self = .raw
        case 228: self = .rawIPv4
        case 229: self = .rawIPv6
        case 0: self = .null
        case 108: self = .loop
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .ethernet: "Ethernet"
        case .linuxSLL: "Linux SLL"
        case .linuxSLL2: "Linux SLL2"
        case .raw: "raw IP"
        case .rawIPv4: "raw IPv4"
        case .rawIPv6: "raw IPv6"
        case .null: "BSD null"
        case .loop: "BSD loop"
        }
    }
}
