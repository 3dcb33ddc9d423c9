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

/// Turns detection events into JSON lines in the EVE style, each one chained to the one before.
///
/// A record ends with `"chain":{"seq":N,"prev":"P","hash":"H"}` where H is the SHA-256 (hex) of
/// the line's bytes up to and not including `,"hash":`. Removing, reordering or editing a record
/// therefore breaks either its own hash or the next record's `prev`.
public struct AlertEncoder: Sendable {
    /// The schema version of the records (`schema_version`).
    public static let schemaVersion = 1

    public let sensor: SensorIdentity
    /// Where the chain stands.
    public private(set) var chain: ChainState
    private var builder = JSONLineBuilder()

    public init(sensor: SensorIdentity, chain: ChainState = .genesis) {
        self.sensor = sensor
        self.chain = chain
    }

    /// Encodes one event as a line (with its trailing newline) and advances the chain.
    public mutating func encode(_ event: DetectionEvent) -> [UInt8] {
        builder.reset()
        builder.beginObject()
        switch event {
        case .match(let alert): writeMatch(alert)
        case .flowEnd(let summary): writeFlowEnd(summary)
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

    /// Closes the record with its `chain` object (sequence, previous hash, and the SHA-256 of
    /// the bytes so far), advances the chain, and returns the line.
    private mutating func sealChain() -> [UInt8] {
        builder.beginObject("chain")
        builder.field("seq", chain.nextSequence)
        builder.field("prev", chain.previousHash)
        let hash = Hex.encode(Array(SHA256.hash(data: builder.bytes)))
        builder.field("hash", hash)
        builder.endObject()
        builder.endObject()
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
        let context = observation.context
        if let peerID = context.peerID {
            if let client = peerID.azureusClientTag { builder.field("client", client) }
            builder.field("peer_id", peerID.description)
        }
        if let port = context.port { builder.field("port", port) }
        if let event = context.trackerEvent { builder.field("event", event.description) }
        if let left = context.bytesLeft { builder.field("left", left) }
        if let peers = context.peersReturned { builder.field("peers_returned", peers) }
        if let torrent = context.torrent { writeTorrent(torrent) }
        builder.endObject()
        builder.endObject()
        builder.beginObject("watchlist")
        builder.field("list", alert.hit.source.name)
        builder.field("label", alert.hit.entry.label)
        builder.field("category", alert.hit.entry.category)
        builder.field("list_sha256", alert.hit.source.sha256)
        builder.endObject()
    }

    /// A torrent's description: `"torrent":{"name","size","files","piece_length","pieces","btih","btih_v2"}`.
    private mutating func writeTorrent(_ torrent: TorrentInfo) {
        builder.beginObject("torrent")
        builder.field("name", torrent.name)
        if let size = torrent.totalLength { builder.field("size", size) }
        if let files = torrent.fileCount { builder.field("files", files) }
        if let pieceLength = torrent.pieceLength { builder.field("piece_length", pieceLength) }
        if let pieces = torrent.pieceCount { builder.field("pieces", pieces) }
        if let v1 = torrent.infoHashV1 { builder.field("btih", v1.hex) }
        if let v2 = torrent.infoHashV2 { builder.field("btih_v2", v2.hex) }
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
        builder.field("piece_bytes_toserver", summary.pieceBytesToServer)
        builder.field("piece_bytes_toclient", summary.pieceBytesToClient)
        builder.field("client_src", summary.initiatorClient)
        builder.field("client_dest", summary.responderClient)
        if let torrent = summary.torrent { writeTorrent(torrent) }
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
    }
}
