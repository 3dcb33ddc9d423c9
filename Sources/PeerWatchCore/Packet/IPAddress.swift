/// An IPv4 or IPv6 address held inline in two words (no heap).
///
/// IPv4 addresses keep their 32 bits in the low word; `family` tells the two apart, so
/// `0.0.0.1` and `::1` differ.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Which IP version an address belongs to.
    public enum Family: UInt8, Sendable, Comparable {
        case v4 = 4
        case v6 = 6
        public static func < (lhs: Family, rhs: Family) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// The address family.
    public var family: Family
    /// The first 64 bits of an IPv6 address; zero for IPv4.
    public var high: UInt64
    /// The last 64 bits of an IPv6 address, or the IPv4 address in the low 32 bits.
    public var low: UInt64

    /// An IPv4 address from its 32-bit value in host order (`0xC0000201` is 192.0.2.1).
    public init(ipv4 value: UInt32) {
        family = .v4
        high = 0
        low = UInt64(value)
    }

    /// An IPv6 address from its two 64-bit halves in host order.
    public init(ipv6High high: UInt64, low: UInt64) {
        family = .v6
        self.high = high
        self.low = low
    }

    /// The IPv4 value, or `nil` for an IPv6 address.
    public var ipv4Value: UInt32? { family == .v4 ? UInt32(truncatingIfNeeded: low) : nil }

    /// The address in network byte order: 4 bytes for IPv4, 16 for IPv6.
    public var bytes: [UInt8] {
        var out = [UInt8]()
        appendBytes(to: &out)
        return out
    }

    /// Appends the address in network byte order to `out`.
    public func appendBytes(to out: inout [UInt8]) {
        switch family {
        case .v4:
            let v = UInt32(truncatingIfNeeded: low)
            for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
        case .v6:
            for word in [high, low] {
                for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
            }
        }
    }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        if lhs.family != rhs.family { return lhs.family < rhs.family }
        if lhs.high != rhs.high { return lhs.high < rhs.high }
        return lhs.low < rhs.low
    }

    /// Dotted quad for IPv4; RFC 5952 text (lowercase, longest zero run as `::`) for IPv6.
    public var description: String {
        switch family {
        case .v4:
            let v = UInt32(truncatingIfNeeded: low)
            return "\(v >> 24).\((v >> 16) & 0xFF).\((v >> 8) & 0xFF).\(v & 0xFF)"
        case .v6:
            var groups = [UInt16]()
            for word in [high, low] {
                for shift in stride(from: 48, through: 0, by: -16) { groups.append(UInt16(truncatingIfNeeded: word >> UInt64(shift))) }
            }
            // Longest run of two or more zero groups (first one wins a tie).
            var bestStart = -1, bestLength = 0, runStart = -1
            for index in 0 ... groups.count {
                if index < groups.count, groups[index] == 0 {
                    if runStart < 0 { runStart = index }
                } else if runStart >= 0 {
                    let length = index - runStart
                    if length > bestLength, length >= 2 { bestStart = runStart; bestLength = length }
                    runStart = -1
                }
            }
            func hex(_ range: Range<Int>) -> String {
                groups[range].map { String($0, radix: 16) }.joined(separator: ":")
            }
            if bestStart < 0 { return hex(0 ..< 8) }
            return hex(0 ..< bestStart) + "::" + hex((bestStart + bestLength) ..< 8)
        }
    }

    /// Parses dotted-quad IPv4 or IPv6 text (with `::` and an optional embedded IPv4 tail).
    public init?<S: StringProtocol>(_ text: S) {
        if !text.contains(":") {
            guard let value = IPAddress.parseIPv4(Substring(text)) else { return nil }
            self.init(ipv4: value)
            return
        }
        var text = Substring(text)
        var tail: [UInt16] = []
        if let lastColon = text.lastIndex(of: ":"), text[text.index(after: lastColon)...].contains(".") {
            guard let v4 = IPAddress.parseIPv4(text[text.index(after: lastColon)...]) else { return nil }
            tail = [UInt16(v4 >> 16), UInt16(v4 & 0xFFFF)]
            text = text[...lastColon]
            if text.hasSuffix("::") == false { text = text.dropLast() }
        }
        func groups(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out = [UInt16]()
            for piece in part.split(separator: ":", omittingEmptySubsequences: false) {
                guard (1 ... 4).contains(piece.count), let value = UInt16(piece, radix: 16) else { return nil }
                out.append(value)
            }
            return out
        }
        var all: [UInt16]
        let chars = Array(text)
        var doubleColon: Int?
        for index in 0 ..< max(0, chars.count - 1) where chars[index] == ":" && chars[index + 1] == ":" {
            if doubleColon != nil { return nil }
            doubleColon = index
        }
        if let split = doubleColon {
            guard let head = groups(Substring(String(chars[0 ..< split]))),
                  let rest = groups(Substring(String(chars[(split + 2)...]))) else { return nil }
            let fill = 8 - head.count - rest.count - tail.count
            guard fill >= 1 else { return nil }
            all = head + Array(repeating: 0, count: fill) + rest + tail
        } else {
            guard let head = groups(text) else { return nil }
            all = head + tail
        }
        guard all.count == 8 else { return nil }
        var high: UInt64 = 0, low: UInt64 = 0
        for index in 0 ..< 4 { high = high << 16 | UInt64(all[index]) }
        for index in 4 ..< 8 { low = low << 16 | UInt64(all[index]) }
        self.init(ipv6High: high, low: low)
    }

    private static func parseIPv4(_ text: Substring) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1 ... 3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let octet = UInt8(part) else { return nil }
            value = value << 8 | UInt32(octet)
        }
        return value
    }
}

/// An address block such as `192.0.2.0/24` or `2001:db8::/32`, for home networks.
public struct IPNetwork: Hashable, Sendable, CustomStringConvertible {
    /// The first address of the block (host bits cleared).
    public let address: IPAddress
    /// How many leading bits are fixed.
    public let prefixLength: Int

    /// Parses `ADDRESS/PREFIX` or a lone address (a host block); `nil` on bad text.
    public init?<S: StringProtocol>(_ text: S) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard (1 ... 2).contains(parts.count), let address = IPAddress(parts[0]) else { return nil }
        let maxLength = address.family == .v4 ? 32 : 128
        var length = maxLength
        if parts.count == 2 {
            guard let value = Int(parts[1]), (0 ... maxLength).contains(value) else { return nil }
            length = value
        }
        prefixLength = length
        self.address = IPNetwork.masked(address, length)
    }

    /// Whether `candidate` lies inside this block.
    public func contains(_ candidate: IPAddress) -> Bool {
        candidate.family == address.family && IPNetwork.masked(candidate, prefixLength) == address
    }

    public var description: String { "\(address)/\(prefixLength)" }

    private static func masked(_ address: IPAddress, _ length: Int) -> IPAddress {
        func mask(_ bits: Int) -> UInt64 { bits <= 0 ? 0 : bits >= 64 ? .max : ~(UInt64.max >> UInt64(bits)) }
        switch address.family {
        case .v4:
            let m = length <= 0 ? UInt32(0) : ~(UInt32.max >> UInt32(length))
            return IPAddress(ipv4: UInt32(truncatingIfNeeded: address.low) & m)
        case .v6:
            return IPAddress(ipv6High: address.high & mask(length), low: address.low & mask(length - 64))
        }
    }
}
