import Crypto
import PeerWatchCore

/// Who wrote a record: the sensor's name and the interface it listens on.
public struct SensorIdentity: Sendable, Equatable {
    /// The sensor name (`sensor`).
    public var name: String
    /// The capture interface (`interface`), or `nil` when reading files.
    public var interface: String?

    public init(name: String, interface: String?) {
        self.name = name
        self.interface = interface
    }
}

/// The position of the next record in the alert chain.
public struct ChainState: Sendable, Equatable {
    /// The sequence number the next record gets.
    public var nextSequence: UInt64
    /// The hash of the last record written (64 zeros before the first).
    public var previousHash: String

    /// The start of a new chain.
    public static let genesis = ChainState(nextSequence: 1, previousHash: String(repeating: "0", count: 64))

    public init(nextSequence: UInt64, previousHash: String) {
        self.nextSequence = nextSequence
        self.previousHash = previousHash
    }
}

/// Why a log was opened (`log.reason` of a `log_open` record).
public struct LogOpening: Sendable, Equatable {
    public enum Reason: String, Sendable {
        /// PeerWatch started (or `read` began).
        case start
        /// The log was reopened after a rotation (SIGHUP).
        case reopen
    }

    /// Where the chain's position came from.
    public enum ChainOrigin: String, Sendable {
        /// Nothing came before: the chain starts here.
        case genesis
        /// The last record already in this log.
        case log
        /// The chain head kept in the state directory (the log was new or empty, after a rotation).
        case head
        /// The records before, in this run (a reopen).
        case run
    }

    public var reason: Reason
    /// The log's file name (`null` for standard output).
    public var file: String?
    /// Whether the file already held records.
    public var appended: Bool
    public var chainFrom: ChainOrigin
    /// A torn last line cut from the log at start: its length and SHA-256.
    public var recovered: (bytes: Int, sha256: String)?
    /// Records the chain head names that the log does not hold (it was cut while PeerWatch was
    /// stopped): the chain goes on after them and `verify` reports the gap.
    public var missing: ClosedRange<UInt64>?
    /// PeerWatch's version and process id.
    public var version: String
    public var processID: Int32

    public init(reason: Reason, file: String?, appended: Bool, chainFrom: ChainOrigin, version: String, processID: Int32) {
        self.reason = reason
        self.file = file
        self.appended = appended
        self.chainFrom = chainFrom
        self.version = version
        self.processID = processID
    }

    public static func == (lhs: LogOpening, rhs: LogOpening) -> Bool {
        lhs.reason == rhs.reason && lhs.file == rhs.file && lhs.appended == rhs.appended && lhs.chainFrom == rhs.chainFrom
            && lhs.recovered?.bytes == rhs.recovered?.bytes && lhs.recovered?.sha256 == rhs.recovered?.sha256 && lhs.missing == rhs.missing
            && lhs.version == rhs.version && lhs.processID == rhs.processID
    }
}

/// Why a log was closed (`log.reason` of a `log_close` record).
public enum LogClosing: String, Sendable {
    /// PeerWatch stopped (or `read` finished).
    case shutdown
    /// The log was rotated: the records go on in the new file.
    case rotation
}

/// Turns detection events into JSON lines in the EVE style, each one chained to the one before.
///
/// A record ends with `"chain":{"seq":N,"prev":"P","hash":"H"}}` and nothing after it, where H
/// is the SHA-256 (hex) of the whole line with H's 64 digits left out (`ChainedRecord`).
/// Removing, reordering or editing any byte of a record therefore breaks either its own hash or
/// the next record's `prev`.
public struct AlertEncoder: Sendable {
    /// The schema version of the records (`schema_version`). Version 2: the chain hash covers
    /// every byte of the line, and logs open and close with `log_open` and `log_close` records.
    public static let schemaVersion = 2

    public let sensor: SensorIdentity
    /// Where the chain stands.
    public private(set) var chain: ChainState
    private var builder = JSONLineBuilder()

    public init(sensor: SensorIdentity, chain: ChainState = .genesis) {
        self.sensor = sensor
        self.chain = chain
    }

    /// Encodes one event as a line (with its trailing newline) and advances the chain; an event
    /// that is no record (`likelyEncrypted`, for the tally) gives no line.
    public mutating func encode(_ event: DetectionEvent) -> [UInt8] {
        builder.reset()
        builder.beginObject()
        switch event {
        case .match(let alert): writeMatch(alert)
        case .flowEnd(let summary): writeFlowEnd(summary)
        case .likelyEncrypted: return []
        }
        return sealChain()
    }

    /// A `suppressed` record: the alert-volume guard held back `count` records whose capture
    /// times ran from `first` to `last`. Chained like every record.
    public mutating func encodeSuppressed(count: Int, first: Timestamp, last: Timestamp, limit: Int) -> [UInt8] {
        builder.reset()
        builder.beginObject()
        builder.field("timestamp", last.iso8601)
        builder.field("event_type", "suppressed")
        builder.field("schema_version", Self.schemaVersion)
        builder.field("sensor", sensor.name)
        builder.field("interface", sensor.interface)
        builder.beginObject("suppressed")
        builder.field("count", count)
        builder.field("first", first.iso8601)
        builder.field("last", last.iso8601)
        builder.field("limit_per_second", limit)
        builder.endObject()
        return sealChain()
    }

    /// A `dropped` record: `count` records could not be written (the log could not take them, or
    /// the output queue was full) and are lost; their capture times ran from `first` to `last`.
    public mutating func encodeDropped(count: Int, first: Timestamp?, last: Timestamp?, reason: String, at time: Timestamp) -> [UInt8] {
        builder.reset()
        builder.beginObject()
        builder.field("timestamp", time.iso8601)
        builder.field("event_type", "dropped")
        builder.field("schema_version", Self.schemaVersion)
        builder.field("sensor", sensor.name)
        builder.field("interface", sensor.interface)
        builder.beginObject("dropped")
        builder.field("count", count)
        builder.field("first", first?.iso8601)
        builder.field("last", last?.iso8601)
        builder.field("reason", reason)
        builder.endObject()
        return sealChain()
    }

    /// A `log_open` record: the first record a log gets each time PeerWatch opens it. Its chain
    /// `prev` is the last record before it, in this file or an earlier one.
    public mutating func encodeLogOpen(_ opening: LogOpening, at time: Timestamp) -> [UInt8] {
        builder.reset()
        builder.beginObject()
        builder.field("timestamp", time.iso8601)
        builder.field("event_type", "log_open")
        builder.field("schema_version", Self.schemaVersion)
        builder.field("sensor", sensor.name)
        builder.field("interface", sensor.interface)
        builder.beginObject("log")
        builder.field("reason", opening.reason.rawValue)
        builder.field("file", opening.file)
        builder.field("appended", opening.appended)
        builder.field("chain_from", opening.chainFrom.rawValue)
        if let recovered = opening.recovered {
            builder.beginObject("recovered")
            builder.field("bytes_cut", recovered.bytes)
            builder.field("sha256", recovered.sha256)
            builder.endObject()
        }
        if let missing = opening.missing {
            builder.beginObject("missing")
            builder.field("first_seq", missing.lowerBound)
            builder.field("last_seq", missing.upperBound)
            builder.endObject()
        }
        builder.field("version", opening.version)
        builder.field("pid", opening.processID)
        builder.endObject()
        return sealChain()
    }

    /// A `log_close` record: the last record PeerWatch writes to a log before it stops or moves
    /// on to a rotated file; `records` counts the records since the matching `log_open`.
    public mutating func encodeLogClose(reason: LogClosing, records: Int, at time: Timestamp) -> [UInt8] {
        builder.reset()
        builder.beginObject()
        builder.field("timestamp", time.iso8601)
        builder.field("event_type", "log_close")
        builder.field("schema_version", Self.schemaVersion)
        builder.field("sensor", sensor.name)
        builder.field("interface", sensor.interface)
        builder.beginObject("log")
        builder.field("reason", reason.rawValue)
        builder.field("records", records)
        builder.endObject()
        return sealChain()
    }

    /// Closes the record with its `chain` object (sequence, previous hash, and the hash of the
    /// whole line but its own digits), advances the chain, and returns the line.
    private mutating func sealChain() -> [UInt8] {
        builder.beginObject("chain")
        builder.field("seq", chain.nextSequence)
        builder.field("prev", chain.previousHash)
        builder.appendRaw(#","hash":""#)
        let hash = ChainedRecord.hash(prefix: builder.bytes)
        builder.appendRaw(hash)
        builder.appendRaw(#""}}"#)
        chain = ChainState(nextSequence: chain.nextSequence + 1, previousHash: hash)
        return builder.bytes + [0x0A]
    }

    private mutating func writeHeader(
        timestamp: Timestamp, eventType: String, flowID: UInt64, key: FlowKey, source: Endpoint, destination: Endpoint
    ) {
        builder.field("timestamp", timestamp.iso8601)
        builder.field("event_type", eventType)
        builder.field("schema_version", Self.schemaVersion)
        builder.field("flow_id", flowID)
        builder.field("community_id", CommunityID.v1(key))
        builder.field("sensor", sensor.name)
        builder.field("interface", sensor.interface)
        builder.field("proto", key.transport.description)
        builder.field("src_ip", source.address.description)
        builder.field("src_port", source.port)
        builder.field("dest_ip", destination.address.description)
        builder.field("dest_port", destination.port)
    }

    private mutating func writeMatch(_ alert: MatchAlert) {
        writeHeader(timestamp: alert.timestamp, eventType: "match", flowID: alert.flowID, key: alert.flowKey,
                    source: alert.source, destination: alert.destination)
        let observation = alert.observation
        builder.field("app_proto", observation.proto.appProtocol)
        builder.field("subscriber", alert.subscriber.description)
        builder.beginObject("p2p")
        builder.field("protocol", observation.proto.description)
        builder.field("message", observation.message.description)
        builder.field("role", observation.role.description)
        builder.field("direction", alert.direction.description)
        // A listed v2 infohash matched through its truncated form reports the listed, full id.
        let id = alert.hit.entry.id
        builder.field("id_type", id.kind.description)
        builder.field("id", id.hex)
        builder.beginObject("context")
        observation.context.write(to: &builder)
        builder.endObject()
        builder.endObject()
        builder.beginObject("watchlist")
        builder.field("list", alert.hit.source.name)
        builder.field("label", alert.hit.entry.label)
        builder.field("category", alert.hit.entry.category)
        builder.field("list_sha256", alert.hit.source.sha256)
        builder.endObject()
        writeCarrier(alert.carrier)
    }

    /// The `carrier` object: how the packet arrived, for a packet that came through anything
    /// more than plain Ethernet or bare IP.
    private mutating func writeCarrier(_ carrier: Carrier?) {
        guard let carrier, !carrier.isEmpty else { return }
        builder.beginObject("carrier")
        if !carrier.vlans.isEmpty { builder.field("vlan", integers: carrier.vlans) }
        if !carrier.mplsLabels.isEmpty { builder.field("mpls", integers: carrier.mplsLabels) }
        if let session = carrier.pppoeSession { builder.field("pppoe_session", session) }
        if carrier.reassembled { builder.field("reassembled", true) }
        if !carrier.tunnels.isEmpty {
            builder.beginArray("tunnels")
            for tunnel in carrier.tunnels {
                builder.beginElement()
                builder.field("type", tunnel.kind.description)
                if let version = tunnel.version { builder.field("version", version) }
                builder.field("src_ip", tunnel.outerSource.description)
                builder.field("dest_ip", tunnel.outerDestination.description)
                if let id = tunnel.id {
                    switch tunnel.kind {
                    case .gre: builder.field("key", id)
                    case .erspan: builder.field("session", id)
                    case .vxlan, .geneve: builder.field("vni", id)
                    case .gtpu: builder.field("teid", id)
                    case .vlan, .pppoe, .mpls, .ipInIP: builder.field("id", id)
                    }
                }
                builder.endObject()
            }
            builder.endArray()
        }
        builder.endObject()
    }

    private mutating func writeFlowEnd(_ summary: FlowSummary) {
        writeHeader(timestamp: summary.end, eventType: "flow_end", flowID: summary.flowID, key: summary.flowKey,
                    source: summary.initiator, destination: summary.responder)
        builder.field("app_proto", summary.proto?.appProtocol)
        builder.field("subscriber", summary.subscriber.description)
        builder.beginObject("flow")
        builder.field("start", summary.start.iso8601)
        builder.field("end", summary.end.iso8601)
        builder.field("pkts_toserver", summary.packetsToServer)
        builder.field("pkts_toclient", summary.packetsToClient)
        builder.field("bytes_toserver", summary.bytesToServer)
        builder.field("bytes_toclient", summary.bytesToClient)
        builder.field("reason", summary.reason.description)
        builder.endObject()
        builder.beginObject("p2p")
        builder.field("protocol", summary.proto?.description)
        summary.context.write(to: &builder)
        builder.field("encrypted_flows_src", summary.encryptedFlowsOfInitiator)
        builder.field("encrypted_flows_dest", summary.encryptedFlowsOfResponder)
        builder.beginArray("matches")
        for matched in summary.matched {
            builder.beginElement()
            builder.field("protocol", matched.proto.description)
            builder.field("id_type", matched.id.kind.description)
            builder.field("id", matched.id.hex)
            builder.field("sightings", matched.sightings)
            builder.endObject()
        }
        builder.endArray()
        builder.endObject()
        writeCarrier(summary.carrier)
    }
}
