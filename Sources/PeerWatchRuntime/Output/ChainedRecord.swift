import Crypto
import PeerWatchCore

/// One line of an alert log, checked byte for byte.
///
/// Every record ends with its chain object, and the line must end right after it:
///
/// ```
/// {"timestamp":…,"event_type":…,…,"chain":{"seq":N,"prev":"<64 hex>","hash":"<64 hex>"}}
/// ```
///
/// The hash is the SHA-256 of the whole line with the 64 digits of the hash value left out
/// (the bytes up to and including `"hash":"`, then `"}}`): every other byte of the line is
/// covered, and the digits themselves are what is compared. A line is accepted only if it is
/// one strict JSON object (no key twice in any object, nothing after it), its last key is
/// `chain` and the chain object holds exactly `seq`, `prev` and `hash`.
struct ChainedRecord {
    /// The parsed record.
    let object: StrictJSON.Value
    /// `chain.seq`.
    let sequence: UInt64
    /// `chain.prev`.
    let previousHash: String
    /// `chain.hash`, verified against the line's bytes.
    let hash: String
    /// `event_type`.
    let eventType: String

    /// What closes every record, after the 64 digits.
    static let closing: [UInt8] = Array(#""}}"#.utf8)
    /// What precedes the digits.
    static let hashKey: [UInt8] = Array(#","hash":""#.utf8)

    /// The chain hash of a record whose bytes up to and including `"hash":"` are `prefix`.
    static func hash<C: Collection<UInt8>>(prefix: C) -> String {
        var hasher = SHA256()
        hasher.update(data: Array(prefix))
        hasher.update(data: closing)
        return Hex.encode(Array(hasher.finalize()))
    }

    /// Why a line is not a chained record.
    enum Problem: Error, Equatable, CustomStringConvertible {
        case notClosedByChain
        case hashMismatch
        case notJSON(String)
        case badChainObject(String)
        case missingField(String)

        var description: String {
            switch self {
            case .notClosedByChain: "the line does not end with its chain hash (bytes after the hash, or no chain)"
            case .hashMismatch: "record was altered (its hash does not match its bytes)"
            case .notJSON(let reason): "not a single strict JSON object: \(reason)"
            case .badChainObject(let reason): "bad chain object: \(reason)"
            case .missingField(let name): "no \(name)"
            }
        }
    }

    /// Checks one line (without its newline).
    static func check(_ line: UnsafeRawBufferPointer) throws(Problem) -> ChainedRecord {
        // The fixed tail: ,"hash":" + 64 lowercase hex digits + "}}
        let tail = hashKey.count + 64 + closing.count
        guard line.count > tail, line.suffix(closing.count).elementsEqual(closing) else { throw .notClosedByChain }
        let digitsStart = line.count - closing.count - 64
        guard line[(digitsStart - hashKey.count) ..< digitsStart].elementsEqual(hashKey) else { throw .notClosedByChain }
        let digits = line[digitsStart ..< (digitsStart + 64)]
        guard digits.allSatisfy({ (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a") ... UInt8(ascii: "f")).contains($0) }) else {
            throw .notClosedByChain
        }
        let claimed = String(decoding: digits, as: UTF8.self)
        guard hash(prefix: line[0 ..< digitsStart]) == claimed else { throw .hashMismatch }
        let object: StrictJSON.Value
        do {
            object = try StrictJSON.parse(line)
        } catch {
            throw .notJSON(error.description)
        }
        guard object.keys.last == "chain", let chain = object["chain"] else { throw .badChainObject("chain is not the record's last key") }
        guard chain.keys == ["seq", "prev", "hash"] else { throw .badChainObject("expected exactly seq, prev and hash, found \(chain.keys.joined(separator: ", "))") }
        guard let sequence = chain["seq"]?.unsigned, sequence > 0 else { throw .badChainObject("seq is not a positive integer") }
        guard let previous = chain["prev"]?.string, previous.utf8.count == 64, previous.utf8.allSatisfy({ Hex.value(of: $0) != nil }) else {
            throw .badChainObject("prev is not 64 hex digits")
        }
        guard chain["hash"]?.string == claimed else { throw .badChainObject("hash does not match") }
        guard let eventType = object["event_type"]?.string else { throw .missingField("event_type") }
        return ChainedRecord(object: object, sequence: sequence, previousHash: previous, hash: claimed, eventType: eventType)
    }

    static func check(_ line: [UInt8]) throws(Problem) -> ChainedRecord {
        let result = line.withUnsafeBytes { raw in Result { () throws(Problem) in try check(raw) } }
        return try result.get()
    }

    /// The `log` object of a `log_open` or `log_close` record.
    var log: StrictJSON.Value? { object["log"] }
}
