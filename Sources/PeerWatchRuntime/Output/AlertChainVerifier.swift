import Crypto
import Foundation
import PeerWatchCore

/// Checks the chain of an alert log: every record's own hash, its sequence number and its link
/// to the record before. Any removal, insertion, reordering or edit shows up as a break.
public enum AlertChainVerifier {
    /// What a verification found.
    public struct Report: Sendable, Equatable {
        /// Records checked.
        public var records: Int
        /// The first problem, with its 1-based line number, or `nil` when the chain is whole.
        public var firstBreak: (line: Int, reason: String)?

        public static func == (lhs: Report, rhs: Report) -> Bool {
            lhs.records == rhs.records && lhs.firstBreak?.line == rhs.firstBreak?.line && lhs.firstBreak?.reason == rhs.firstBreak?.reason
        }
    }

    private static let hashMarker = Array(#","hash":""#.utf8)

    /// Verifies the JSON lines in `data`. A log that starts mid-chain (after rotation) is
    /// accepted from its first record's `prev`.
    public static func verify(_ data: Data) -> Report {
        var previousHash: String?
        var previousSequence: UInt64?
        var records = 0
        for (index, line) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() where !line.isEmpty {
            let number = index + 1
            let bytes = Array(line)
            guard let markerStart = lastRange(of: hashMarker, in: bytes) else {
                return Report(records: records, firstBreak: (number, "no chain hash"))
            }
            let claimed = Hex.encode(Array(SHA256.hash(data: bytes[0 ..< markerStart])))
            guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
                  let chain = object["chain"] as? [String: Any],
                  let sequence = (chain["seq"] as? NSNumber)?.uint64Value,
                  let prev = chain["prev"] as? String, let hash = chain["hash"] as? String
            else {
                return Report(records: records, firstBreak: (number, "not a chained record"))
            }
            guard hash == claimed else { return Report(records: records, firstBreak: (number, "record was altered (hash mismatch)")) }
            if let previousHash, prev != previousHash {
                return Report(records: records, firstBreak: (number, "prev does not match the record before (a record was removed or reordered)"))
            }
            if let previousSequence, sequence != previousSequence + 1 {
                return Report(records: records, firstBreak: (number, "sequence jumps from \(previousSequence) to \(sequence)"))
            }
            previousHash = hash
            previousSequence = sequence
            records += 1
        }
        return Report(records: records, firstBreak: nil)
    }

    private static func lastRange(of marker: [UInt8], in bytes: [UInt8]) -> Int? {
        guard bytes.count >= marker.count else { return nil }
        var start = bytes.count - marker.count
        while start >= 0 {
            if bytes[start] == marker[0], Array(bytes[start ..< start + marker.count]) == marker { return start }
            start -= 1
        }
        return nil
    }
}
