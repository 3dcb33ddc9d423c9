/// Openings of protocols that are not P2P file sharing and carry nothing a family extracts:
/// a flow that opens with one stops being probed at once (most of an ISP link is TLS, QUIC, DNS
/// and SSH). Each test looks at a few fixed bytes and allocates nothing; each is strict enough
/// that no family's own opening passes it (a BitTorrent handshake starts with 0x13, MSE with
/// random bytes, eDonkey with 0xE3/0xC5/0xD4, uTP with a type nibble and version 1, the DHT
/// with `d`, Kad with 0xE4/0xE5 and an opcode).
enum KnownOpenings {
    /// Whether a TCP direction's first bytes open TLS or SSH.
    static func endsStreamProbing(_ first: UnsafeRawBufferPointer) -> Bool {
        isTLSRecord(first) || isSSHBanner(first)
    }

    /// Whether a UDP flow's first datagram is DNS or a QUIC long header.
    static func endsDatagramProbing(_ payload: UnsafeRawBufferPointer, ports: PortPair) -> Bool {
        isQUICLongHeader(payload) || isDNS(payload, ports: ports)
    }

    /// A TLS record header (RFC 8446 §5.1): content type change_cipher_spec, alert, handshake
    /// or application_data, legacy version 3.0 to 3.4, and a length within the record limit
    /// (2^14 plus expansion).
    static func isTLSRecord(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let reader = ByteReader(bytes)
        guard let type = reader.peekByte(at: 0), (0x14 ... 0x17).contains(type),
              reader.peekByte(at: 1) == 0x03, let minor = reader.peekByte(at: 2), minor <= 0x04,
              let high = reader.peekByte(at: 3), let low = reader.peekByte(at: 4) else { return false }
        let length = Int(high) << 8 | Int(low)
        return length > 0 && length <= 16_384 + 2_048
    }

    /// An SSH identification string (RFC 4253 §4.2): `SSH-2.0-` or `SSH-1.`.
    static func isSSHBanner(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let reader = ByteReader(bytes)
        return reader.starts(with: sshPrefix) && bytes.count >= 6
    }

    private static let sshPrefix: [UInt8] = Array("SSH-".utf8)

    /// A QUIC long header (RFC 9000 §17.2, RFC 9369): the form and fixed bits set, and a known
    /// version (1, 2, an IETF draft, or 0 for version negotiation).
    static func isQUICLongHeader(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let reader = ByteReader(bytes)
        guard bytes.count >= 7, let first = reader.peekByte(at: 0), first & 0x80 != 0,
              let version = reader.peekInteger(as: UInt32.self, at: 1) else { return false }
        switch version {
        case 0: return true
        case 0x0000_0001, 0x6B33_43CF: return first & 0x40 != 0
        case 0xFF00_0000 ... 0xFF00_00FF: return first & 0x40 != 0
        default: return false
        }
    }

    /// A DNS message (RFC 1035 §4.1.1) on a DNS, mDNS or LLMNR port: opcode query, notify or
    /// update, Z clear, and a small plausible count of questions and records.
    static func isDNS(_ bytes: UnsafeRawBufferPointer, ports: PortPair) -> Bool {
        guard isDNSPort(ports.source) || isDNSPort(ports.destination) else { return false }
        let reader = ByteReader(bytes)
        guard bytes.count >= 12, let flags = reader.peekInteger(as: UInt16.self, at: 2), let questions = reader.peekInteger(as: UInt16.self, at: 4),
              let answers = reader.peekInteger(as: UInt16.self, at: 6) else { return false }
        let opcode = (flags >> 11) & 0xF
        return (opcode == 0 || opcode == 4 || opcode == 5) && flags & 0x0040 == 0 && questions <= 16 && answers <= 256
    }

    private static func isDNSPort(_ port: UInt16) -> Bool {
        port == 53 || port == 5353 || port == 5355
    }
}
