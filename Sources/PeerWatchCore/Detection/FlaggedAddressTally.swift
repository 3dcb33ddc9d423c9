/// Addresses seen in a matched flow, with how many likely-encrypted flows each had since: what
/// a flow_end reports as `encrypted_flows_src` and `encrypted_flows_dest`. Only flagged
/// addresses are counted; nothing is kept about anyone else.
///
/// It reads events in output order. One engine applies it to its own events; a pipeline of
/// several workers applies one tally to all their events once they are in one order, so that
/// an address flagged on one worker counts the encrypted flows another worker saw.
public struct FlaggedAddressTally: Sendable {
    private var counts: [IPAddress: Int] = [:]
    /// Flagged addresses remembered at most (about 3 MiB).
    public static let maxAddresses = 65_536

    public init() {}

    /// Applies one event; returns whether it is to be written (`likelyEncrypted` is only for the
    /// tally). A `flow_end` gets its two counts.
    public mutating func apply(_ event: inout DetectionEvent) -> Bool {
        switch event {
        case .match(let alert):
            note(alert.source.address)
            note(alert.destination.address)
            return true
        case .likelyEncrypted(let a, let b):
            if !counts.isEmpty {
                if let count = counts[a] { counts[a] = count &+ 1 }
                if b != a, let count = counts[b] { counts[b] = count &+ 1 }
            }
            return false
        case .flowEnd(var summary):
            summary.encryptedFlowsOfInitiator = counts[summary.initiator.address] ?? 0
            summary.encryptedFlowsOfResponder = counts[summary.responder.address] ?? 0
            event = .flowEnd(summary)
            return true
        }
    }

    /// Applies the events of `events` from `start` on, in place, dropping those only for the tally.
    public mutating func apply(_ events: inout [DetectionEvent], from start: Int = 0) {
        var kept = start
        for index in start ..< events.count {
            var event = events[index]
            guard apply(&event) else { continue }
            events[kept] = event
            kept += 1
        }
        if kept < events.count { events.removeSubrange(kept...) }
    }

    private mutating func note(_ address: IPAddress) {
        if counts[address] == nil, counts.count < Self.maxAddresses { counts[address] = 0 }
    }
}
