import Foundation
import PeerWatchCore

/// Writes frames as a classic pcap or a pcapng capture, in memory or to a file.
public enum PcapFileWriter {
    /// A classic pcap file (microsecond timestamps, little-endian) of `frames`.
    public static func pcap(_ frames: [Frame], linkType: UInt32 = 1, snapshotLength: UInt32 = 262_144) -> [UInt8] {
        var out = [UInt8]()
        appendLE32(&out, 0xA1B2_C3D4)
        appendLE16(&out, 2)
        appendLE16(&out, 4)
        appendLE32(&out, 0)
        appendLE32(&out, 0)
        appendLE32(&out, snapshotLength)
        appendLE32(&out, linkType)
        for frame in frames { appendRecord(&out, frame) }
        return out
    }

    /// One pcap record header and its bytes.
    public static func appendRecord(_ out: inout [UInt8], _ frame: Frame) {
        let seconds = frame.timestamp.microseconds / 1_000_000
        let micros = frame.timestamp.microseconds % 1_000_000
        appendLE32(&out, UInt32(truncatingIfNeeded: seconds))
        appendLE32(&out, UInt32(truncatingIfNeeded: micros))
        appendLE32(&out, UInt32(frame.bytes.count))
        appendLE32(&out, UInt32(frame.wireLength))
        out += frame.bytes
    }

    /// A pcapng file (one section, one interface with microsecond resolution) of `frames`.
    public static func pcapng(_ frames: [Frame], linkType: UInt16 = 1, snapshotLength: UInt32 = 262_144) -> [UInt8] {
        var out = [UInt8]()
        // Section header block.
        appendLE32(&out, 0x0A0D_0D0A)
        appendLE32(&out, 28)
        appendLE32(&out, 0x1A2B_3C4D)
        appendLE16(&out, 1)
        appendLE16(&out, 0)
        out += [UInt8](repeating: 0xFF, count: 8)  // section length unknown
        appendLE32(&out, 28)
        // Interface description block.
        appendLE32(&out, 1)
        appendLE32(&out, 20)
        appendLE16(&out, linkType)
        appendLE16(&out, 0)
        appendLE32(&out, snapshotLength)
        appendLE32(&out, 20)
        // Enhanced packet blocks.
        for frame in frames {
            let padded = (frame.bytes.count + 3) & ~3
            let length = UInt32(32 + padded)
            appendLE32(&out, 6)
            appendLE32(&out, length)
            appendLE32(&out, 0)
            let micros = UInt64(bitPattern: frame.timestamp.microseconds)
            appendLE32(&out, UInt32(truncatingIfNeeded: micros >> 32))
            appendLE32(&out, UInt32(truncatingIfNeeded: micros))
            appendLE32(&out, UInt32(frame.bytes.count))
            appendLE32(&out, UInt32(frame.wireLength))
            out += frame.bytes
            out += [UInt8](repeating: 0, count: padded - frame.bytes.count)
            appendLE32(&out, length)
        }
        return out
    }

    /// Writes `bytes` to `path`, replacing any file there.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func appendLE16(_ out: inout [UInt8], _ value: UInt16) {
        out.append(UInt8(value & 0xFF))
        out.append(UInt8(value >> 8))
    }

    static func appendLE32(_ out: inout [UInt8], _ value: UInt32) {
        for shift in stride(from: 0, through: 24, by: 8) { out.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) }
    }
}

/// A small deterministic random generator (SplitMix64), so fixtures come out byte-identical.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` random bytes.
    public mutating func bytes(_ count: Int) -> [UInt8] {
        (0 ..< count).map { _ in UInt8(truncatingIfNeeded: next()) }
    }
}

/// BitTorrent wire messages for fixtures.
public enum BitTorrentFixtures {
    /// A BEP 3 handshake for `infoHash` from a peer whose id starts with `clientTag` (8 bytes,
    /// such as `-TR3000-`), with the extension-protocol bit set.
    public static func handshake(infoHash: [UInt8], peerID: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [19] + Array("BitTorrent protocol".utf8)
        out += [0, 0, 0, 0, 0, 0x10, 0, 0x05]
        out += infoHash
        out += peerID
        return out
    }

    /// An Azureus-style peer id: `clientTag` followed by random bytes.
    public static func peerID(clientTag: String, using generator: inout SeededGenerator) -> [UInt8] {
        let tag = Array(clientTag.utf8.prefix(8))
        return tag + generator.bytes(20 - tag.count)
    }

    /// A peer wire message: `<length><id><payload>`.
    public static func message(id: UInt8, payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        PacketBuilder.append32(&out, UInt32(payload.count + 1))
        out.append(id)
        return out + payload
    }

    /// A BEP 10 extension handshake announcing `utMetadata` as the sender's ut_metadata id.
    public static func extensionHandshake(utMetadata: Int, client: String, metadataSize: Int? = nil) -> [UInt8] {
        var entries: [(String, BencodeValue)] = [("m", .dictionary([("ut_metadata", .integer(Int64(utMetadata)))])), ("v", .text(client))]
        if let metadataSize { entries.append(("metadata_size", .integer(Int64(metadataSize)))) }
        return message(id: 20, payload: [0] + BencodeValue.dictionary(entries).encoded)
    }

    /// BEP 9 data messages carrying `info` in 16 KiB pieces, sent with the receiver's id `receiverID`.
    public static func metadataPieces(_ info: [UInt8], receiverID: UInt8) -> [[UInt8]] {
        stride(from: 0, to: info.count, by: 16_384).enumerated().map { piece, start in
            let dictionary = BencodeValue.dictionary([("msg_type", .integer(1)), ("piece", .integer(Int64(piece))), ("total_size", .integer(Int64(info.count)))])
            return message(id: 20, payload: [receiverID] + dictionary.encoded + Array(info[start ..< min(info.count, start + 16_384)]))
        }
    }

    /// A piece message carrying `block`.
    public static func piece(index: UInt32, begin: UInt32, block: [UInt8]) -> [UInt8] {
        var payload: [UInt8] = []
        PacketBuilder.append32(&payload, index)
        PacketBuilder.append32(&payload, begin)
        return message(id: 7, payload: payload + block)
    }

    /// The messages that usually follow a handshake: a bitfield and an interested message.
    public static func bitfieldAndInterested(pieces: Int, using generator: inout SeededGenerator) -> [UInt8] {
        let length = (pieces + 7) / 8
        var out: [UInt8] = []
        PacketBuilder.append32(&out, UInt32(length + 1))
        out.append(5)
        out += generator.bytes(length)
        out += [0, 0, 0, 1, 2]
        return out
    }
}
