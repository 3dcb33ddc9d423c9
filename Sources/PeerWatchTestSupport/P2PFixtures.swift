import CZlib
import PeerWatchCore

/// zlib compression for fixtures (deflated Gnutella links, eMule packed frames, Kad packets).
public enum Deflate {
    /// `bytes` as one zlib stream (RFC 1950).
    public static func zlib(_ bytes: [UInt8], level: Int32 = 6) -> [UInt8] {
        var length = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(length))
        let status = out.withUnsafeMutableBufferPointer { destination in
            bytes.withUnsafeBufferPointer { source in
                compress2(destination.baseAddress, &length, source.baseAddress, uLong(bytes.count), level)
            }
        }
        precondition(status == Z_OK, "zlib compress2 failed: \(status)")
        return Array(out.prefix(Int(length)))
    }
}

extension Deflate {
    /// `bytes` as raw deflate (RFC 1951): the zlib stream without its header and checksum.
    public static func raw(_ bytes: [UInt8]) -> [UInt8] {
        let stream = zlib(bytes)
        return Array(stream[2 ..< stream.count - 4])
    }

    /// `bytes` as one gzip member (RFC 1952).
    public static func gzip(_ bytes: [UInt8]) -> [UInt8] {
        let checksum = bytes.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, uInt($0.count))) }
        return [0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 0xFF] + raw(bytes) + Bytes.le(checksum) + Bytes.le(UInt32(truncatingIfNeeded: bytes.count))
    }
}

/// Little-endian and big-endian integers as bytes.
public enum Bytes {
    public static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    public static func be<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }

    public static func text(_ string: String) -> [UInt8] { Array(string.utf8) }
}

/// Gnutella 0.6, G2 and Mojito messages built in code.
public enum GnutellaFixtures {
    /// The three handshake blocks of a link, as each side sends them: the initiator's CONNECT
    /// and final 200, the responder's 200.
    public static func handshake(deflate: Bool, g2: Bool = false, initiatorAgent: String = "gtk-gnutella/1.2.2",
                                 responderAgent: String = "Shareaza 2.7.10.2") -> (initiator: [UInt8], initiatorFinal: [UInt8], responder: [UInt8]) {
        let type = g2 ? "Content-Type: application/x-gnutella2\r\n" : ""
        let accept = g2 ? "Accept: application/x-gnutella2\r\n" : ""
        let encoding = deflate ? "Content-Encoding: deflate\r\n" : ""
        let connect = "GNUTELLA CONNECT/0.6\r\nUser-Agent: \(initiatorAgent)\r\n\(accept)Accept-Encoding: deflate\r\nX-Ultrapeer: False\r\n\r\n"
        let answer = "GNUTELLA/0.6 200 OK\r\nUser-Agent: \(responderAgent)\r\n\(type)Accept-Encoding: deflate\r\n\(encoding)X-Ultrapeer: True\r\n\r\n"
        let final = "GNUTELLA/0.6 200 OK\r\n\(type)\(encoding)\r\n"
        return (Bytes.text(connect), Bytes.text(final), Bytes.text(answer))
    }

    /// A descriptor: GUID, type, TTL, hops, payload length (little-endian), payload.
    public static func descriptor(type: UInt8, payload: [UInt8], guid: UInt8 = 0x5A) -> [UInt8] {
        [UInt8](repeating: guid, count: 16) + [type, 3, 0] + Bytes.le(UInt32(payload.count)) + payload
    }

    /// One hit of a query hit: index, size, name, extensions.
    public struct Hit {
        public var index: UInt32
        public var size: UInt32
        public var name: String
        public var extensions: [UInt8]
        public init(index: UInt32 = 1, size: UInt32, name: String, extensions: [UInt8]) {
            self.index = index
            self.size = size
            self.name = name
            self.extensions = extensions
        }
    }

    /// HUGE extensions: URN texts joined by 0x1C.
    public static func huge(_ urns: [String]) -> [UInt8] {
        Array(urns.map(Bytes.text).joined(separator: [0x1C]))
    }

    /// A GGEP block of one extension each: (id, data), the last flagged last.
    public static func ggep(_ extensions: [(String, [UInt8])]) -> [UInt8] {
        var out: [UInt8] = [0xC3]
        for (index, (id, data)) in extensions.enumerated() {
            let last: UInt8 = index == extensions.count - 1 ? 0x80 : 0
            out.append(last | UInt8(id.utf8.count))
            out += Bytes.text(id)
            // Length: 6 bits a byte, big-endian, 0x40 on the last byte, 0x80 on the others.
            let length = data.count
            if length < 64 {
                out.append(0x40 | UInt8(length))
            } else if length < 4096 {
                out += [0x80 | UInt8(length >> 6), 0x40 | UInt8(length & 0x3F)]
            } else {
                out += [0x80 | UInt8(length >> 12), 0x80 | UInt8((length >> 6) & 0x3F), 0x40 | UInt8(length & 0x3F)]
            }
            out += data
        }
        return out
    }

    /// A query hit's payload: hits, vendor trailer, servent GUID.
    public static func queryHit(_ hits: [Hit], vendor: String = "RAZA") -> [UInt8] {
        var out: [UInt8] = [UInt8(hits.count)] + Bytes.le(UInt16(6346)) + [192, 0, 2, 7] + Bytes.le(UInt32(1000))
        for hit in hits {
            out += Bytes.le(hit.index) + Bytes.le(hit.size) + Bytes.text(hit.name) + [0] + hit.extensions + [0]
        }
        out += Bytes.text(vendor) + [2, 0x1C, 0x11] + [UInt8](repeating: 0xEE, count: 16)
        return out
    }

    /// A query's payload: speed, search text, extensions.
    public static func query(_ text: String, extensions: [UInt8]) -> [UInt8] {
        [0x60, 0x00] + Bytes.text(text) + [0] + extensions
    }

    /// A G2 packet (little-endian lengths).
    public static func g2(_ name: String, children: [[UInt8]] = [], payload: [UInt8] = []) -> [UInt8] {
        let body = children.isEmpty ? payload : children.flatMap { $0 } + (payload.isEmpty ? [] : [0] + payload)
        let length = body.count
        let lengthBytes: [UInt8] = length == 0 ? [] : length < 256 ? [UInt8(length)] : length < 65_536 ? Bytes.le(UInt16(length)) : Array(Bytes.le(UInt32(length)).prefix(3))
        let control = UInt8(lengthBytes.count) << 6 | UInt8(name.utf8.count - 1) << 3 | (children.isEmpty ? 0 : 0x04)
        return [control] + lengthBytes + Bytes.text(name) + body
    }

    /// A G2 URN child: prefix, NUL, digest.
    public static func g2URN(_ prefix: String, _ digest: [UInt8]) -> [UInt8] {
        g2("URN", payload: Bytes.text(prefix) + [0] + digest)
    }

    /// A Mojito message: id, 0x44, version 0.0, length, opcode, the sender's contact, then `body`.
    public static func mojito(opcode: UInt8, body: [UInt8]) -> [UInt8] {
        let contact: [UInt8] = Bytes.text("GTKG") + [0, 1] + [UInt8](repeating: 0x4B, count: 20) + [4, 192, 0, 2, 9] + Bytes.be(UInt16(28_681)) + [0, 0] + [0, 0]
        let payload = [opcode] + contact + body
        return [UInt8](repeating: 0x3D, count: 16) + [0x44, 0, 0] + Bytes.le(UInt32(payload.count)) + payload
    }

    /// A Mojito FIND_VALUE request for `type` values under `key`.
    public static func mojitoFindValue(key: [UInt8], type: String = "ALOC") -> [UInt8] {
        mojito(opcode: 0x07, body: key + [0] + Bytes.text(type))
    }

    /// A Mojito STORE request of one value of `type` under `key`.
    public static func mojitoStore(key: [UInt8], type: String) -> [UInt8] {
        let creator: [UInt8] = Bytes.text("GTKG") + [0, 1] + [UInt8](repeating: 0x4C, count: 20) + [4, 192, 0, 2, 9] + Bytes.be(UInt16(28_681))
        let value = creator + key + Bytes.text(type) + [0, 0] + Bytes.be(UInt16(4)) + [1, 2, 3, 4]
        return mojito(opcode: 0x03, body: [4, 9, 9, 9, 9] + [1] + value)
    }
}

/// eDonkey, eMule and Kad messages built in code.
public enum EDonkeyFixtures {
    /// A TCP frame: protocol, length (opcode and payload), opcode, payload.
    public static func frame(_ proto: UInt8 = 0xE3, _ opcode: UInt8, _ payload: [UInt8]) -> [UInt8] {
        [proto] + Bytes.le(UInt32(payload.count + 1)) + [opcode] + payload
    }

    /// A zlib-packed frame (0xD4) of `opcode` and `payload`.
    public static func packed(_ opcode: UInt8, _ payload: [UInt8]) -> [UInt8] {
        frame(0xD4, opcode, Deflate.zlib(payload))
    }

    /// A string tag with a one-byte name (the compact form).
    public static func stringTag(_ name: UInt8, _ value: String) -> [UInt8] {
        [0x82, name] + Bytes.le(UInt16(value.utf8.count)) + Bytes.text(value)
    }

    /// A 32-bit integer tag with a one-byte name.
    public static func integerTag(_ name: UInt8, _ value: UInt32) -> [UInt8] {
        [0x83, name] + Bytes.le(value)
    }

    /// A hello: hash length, user hash, client id, port, tags (name, version), server address.
    public static func hello(userHash: [UInt8], name: String, answer: Bool = false) -> [UInt8] {
        let tags = stringTag(0x01, name) + integerTag(0x11, 0x3C)
        let body = userHash + Bytes.le(UInt32(0x0100_007F)) + Bytes.le(UInt16(4662)) + Bytes.le(UInt32(2)) + tags + [0, 0, 0, 0, 0, 0]
        return answer ? frame(0xE3, 0x4C, body) : frame(0xE3, 0x01, [16] + body)
    }

    /// A file list entry: hash, client id, port, tags (name and size).
    public static func fileEntry(hash: [UInt8], name: String, size: UInt32) -> [UInt8] {
        hash + Bytes.le(UInt32(0)) + Bytes.le(UInt16(0)) + Bytes.le(UInt32(2)) + stringTag(0x01, name) + integerTag(0x02, size)
    }

    /// A Kad id on the wire: the hash's four 32-bit words little-endian.
    public static func kadID(_ hash: [UInt8]) -> [UInt8] {
        stride(from: 0, to: 16, by: 4).flatMap { Array(hash[$0 ..< $0 + 4].reversed()) }
    }

    /// A Kad 2 source search for `hash`.
    public static func kadSearchSource(_ hash: [UInt8], size: UInt64) -> [UInt8] {
        [0xE4, 0x34] + kadID(hash) + Bytes.le(UInt16(0)) + Bytes.le(size)
    }

    /// A Kad tag (two-byte name length).
    public static func kadStringTag(_ name: UInt8, _ value: String) -> [UInt8] {
        [0x02] + Bytes.le(UInt16(1)) + [name] + Bytes.le(UInt16(value.utf8.count)) + Bytes.text(value)
    }

    /// A Kad 2 keyword publish of files (hash, name, size) under a keyword hash.
    public static func kadPublishKey(keyword: [UInt8], files: [([UInt8], String, UInt32)]) -> [UInt8] {
        var out: [UInt8] = [0xE4, 0x43] + kadID(keyword) + Bytes.le(UInt16(files.count))
        for (hash, name, size) in files {
            out += kadID(hash) + [2] + kadStringTag(0x01, name) + [0x03] + Bytes.le(UInt16(1)) + [0x02] + Bytes.le(size)
        }
        return out
    }
}
