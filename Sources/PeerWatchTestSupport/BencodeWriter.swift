import PeerWatchCore

/// A bencoded value for building fixtures (test code: allocates freely).
public indirect enum BencodeValue: Sendable {
    case integer(Int64)
    case bytes([UInt8])
    case list([BencodeValue])
    /// Keys are written in sorted order, as BEP 3 requires.
    case dictionary([(String, BencodeValue)])

    /// A text string value.
    public static func text(_ string: String) -> BencodeValue { .bytes(Array(string.utf8)) }

    /// The encoded bytes.
    public var encoded: [UInt8] {
        switch self {
        case .integer(let value): return Array("i\(value)e".utf8)
        case .bytes(let bytes): return Array("\(bytes.count):".utf8) + bytes
        case .list(let items): return [UInt8(ascii: "l")] + items.flatMap(\.encoded) + [UInt8(ascii: "e")]
        case .dictionary(let entries):
            let sorted = entries.sorted { Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8)) }
            return [UInt8(ascii: "d")] + sorted.flatMap { BencodeValue.text($0.0).encoded + $0.1.encoded } + [UInt8(ascii: "e")]
        }
    }
}

/// .torrent files for fixtures.
public enum TorrentFixtures {
    /// A v1 info dictionary for one file of `length` bytes in `pieceLength` pieces.
    public static func singleFileInfo(name: String, length: Int64, pieceLength: Int64 = 262_144, using random: inout SeededGenerator) -> BencodeValue {
        let pieces = Int((length + pieceLength - 1) / pieceLength)
        return .dictionary([
            ("length", .integer(length)), ("name", .text(name)), ("piece length", .integer(pieceLength)),
            ("pieces", .bytes(random.bytes(20 * pieces))),
        ])
    }

    /// A hybrid (v1 and v2) info dictionary: `meta version` 2 plus v1 `pieces`.
    public static func hybridInfo(name: String, length: Int64, using random: inout SeededGenerator) -> BencodeValue {
        .dictionary([
            ("file tree", .dictionary([(name, .dictionary([("", .dictionary([("length", .integer(length)), ("pieces root", .bytes(random.bytes(32)))]))]))])),
            ("length", .integer(length)), ("meta version", .integer(2)), ("name", .text(name)), ("piece length", .integer(16_384)),
            ("pieces", .bytes(random.bytes(20 * Int((length + 16_383) / 16_384)))),
        ])
    }

    /// A whole .torrent file around `info`.
    public static func torrentFile(info: BencodeValue, announce: String = "http://tracker.example/announce") -> [UInt8] {
        BencodeValue.dictionary([("announce", .text(announce)), ("created by", .text("PeerWatch fixtures")),
                                 ("creation date", .integer(1_795_000_000)), ("info", info)]).encoded
    }
}
