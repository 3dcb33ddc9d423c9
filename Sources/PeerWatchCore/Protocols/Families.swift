/// The registry of protocol families: the one place that lists them, their protocols and
/// messages, their pools, and the `switch` over families that the engine calls through. Adding
/// a family adds a case here and one line to each switch; `Detection/` and `Output/` do not
/// change.

/// A protocol family: the protocols one set of decoders reads.
public enum Family: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// BitTorrent: peer wire over TCP and uTP, DHT, trackers, local discovery.
    case bittorrent
    /// HTTP/1.x as framing for other families' identifiers (.torrent files, magnet links).
    case http

    public var description: String {
        switch self {
        case .bittorrent: "bittorrent"
        case .http: "http"
        }
    }
}

/// The P2P protocol (carrier) an observation came from, as named in alert records
/// (`p2p.protocol`), with the family that reads it.
public enum P2PProtocol: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// BitTorrent peer wire over TCP (BEP 3).
    case bittorrent
    /// BitTorrent peer wire inside uTP (BEP 29).
    case utp
    /// BitTorrent Mainline DHT (BEP 5).
    case bittorrentDHT
    /// BitTorrent tracker (HTTP announce/scrape, BEP 15 UDP).
    case bittorrentTracker
    /// BitTorrent Local Service Discovery (BEP 14).
    case bittorrentLSD
    /// Plain HTTP carrying identifiers (.torrent downloads, magnet links).
    case http

    public var description: String {
        switch self {
        case .bittorrent: "bittorrent"
        case .utp: "utp"
        case .bittorrentDHT: "bittorrent-dht"
        case .bittorrentTracker: "bittorrent-tracker"
        case .bittorrentLSD: "bittorrent-lsd"
        case .http: "http"
        }
    }

    /// The EVE-style `app_proto` of a flow carrying this protocol.
    public var appProtocol: String {
        switch self {
        case .bittorrent, .utp: "bittorrent"
        default: description
        }
    }

    /// The family whose fields a flow of this protocol reports in its flow_end.
    public var family: Family {
        switch self {
        case .bittorrent, .utp, .bittorrentDHT, .bittorrentTracker, .bittorrentLSD: .bittorrent
        case .http: .http
        }
    }
}

/// The message that carried an identifier (`p2p.message`): a family's own message kinds.
public enum MessageKind: Sendable, Hashable, CustomStringConvertible {
    case bittorrent(BitTorrent.Message)
    case http(HTTP.Message)

    public var description: String {
        switch self {
        case .bittorrent(let message): message.description
        case .http(let message): message.description
        }
    }
}

/// What an observation carried besides its identifier: a family's own context, which writes its
/// own fields into `p2p.context`.
public enum ObservationContext: Sendable, Hashable {
    case none
    case bittorrent(BitTorrent.Context)
    case http(HTTP.Context)

    /// The context's fields, in the family's order.
    public func write<W: FieldWriter>(to writer: inout W) {
        switch self {
        case .none: break
        case .bittorrent(let context): context.write(to: &writer)
        case .http(let context): context.write(to: &writer)
        }
    }

    /// The torrent a message described, whichever family read it.
    public var torrent: TorrentInfo? {
        switch self {
        case .none: nil
        case .bittorrent(let context): context.torrent
        case .http(let context): context.torrent
        }
    }
}

/// What a flow_end record says of a flow beyond the generic fields: the fields of the family of
/// the flow's first protocol.
public enum FlowEndContext: Sendable, Equatable {
    case none
    case bittorrent(BitTorrent.FlowEnd)

    /// The fields, in the family's order.
    public func write<W: FieldWriter>(to writer: inout W) {
        switch self {
        case .none: break
        case .bittorrent(let end): end.write(to: &writer)
        }
    }
}

/// Registry functions that are no family's own.
enum Families {
    /// The extractors of an HTTP request line: magnet links (any kind of identifier), then each
    /// family's (BitTorrent: tracker announces and scrapes).
    static func extractFromRequestLine(_ line: UnsafeRawBufferPointer, context: inout DecodeContext) {
        MagnetLink.scan(line) { id in
            context.recognised(.http)
            context.observe(Observation(proto: .http, message: .httpMagnet, role: .seeking, contentID: id))
        }
        BitTorrent.HTTPTracker.extract(requestLine: line, context: &context)
    }
}

/// What the families keep of a TCP flow while it is probing: each family's probe state, and
/// how much of each direction was offered (the probing bounds).
struct StreamProbe {
    var bittorrent = BitTorrent.StreamState()
    var http = HTTP.StreamProbe()
    /// Families still in the running, one bit each (`1 << Family.rawValue`).
    var alive: UInt8 = 0b11
    /// Bytes and chunks of each direction offered so far.
    var bytesOffered: (toServer: Int32, toClient: Int32) = (0, 0)
    var chunksOffered: (toServer: UInt16, toClient: UInt16) = (0, 0)

    /// Counts a chunk against `direction`'s bounds; `false` once they are spent (the chunk is
    /// not offered).
    mutating func admit(_ chunk: StreamChunk, direction: FlowDirection) -> Bool {
        let count: Int32
        switch chunk {
        case .data(let bytes): count = Int32(clamping: bytes.count)
        case .gap(let length): count = Int32(clamping: length)
        }
        func within(_ bytes: inout Int32, _ chunks: inout UInt16) -> Bool {
            guard bytes < ProbingBounds.maxBytes, chunks < ProbingBounds.maxPackets else { return false }
            bytes = bytes &+ min(count, Int32(ProbingBounds.maxBytes))
            chunks &+= 1
            return true
        }
        switch direction {
        case .toServer: return within(&bytesOffered.toServer, &chunksOffered.toServer)
        case .toClient: return within(&bytesOffered.toClient, &chunksOffered.toClient)
        }
    }

    /// Whether `direction` has been offered nothing yet.
    func isFirst(_ direction: FlowDirection) -> Bool {
        direction == .toServer ? chunksOffered.toServer == 0 : chunksOffered.toClient == 0
    }

    /// Whether both directions' bounds are spent.
    var isSpent: Bool {
        func spent(_ bytes: Int32, _ chunks: UInt16) -> Bool { bytes >= ProbingBounds.maxBytes || chunks >= ProbingBounds.maxPackets }
        return spent(bytesOffered.toServer, chunksOffered.toServer) && spent(bytesOffered.toClient, chunksOffered.toClient)
    }
}

/// The families' per-flow states, in pools: a flow holds an index into its family's pool.
struct FamilyPools {
    var probes = Pool(empty: StreamProbe())
    var bittorrentStreams = Pool(empty: BitTorrent.StreamState())
    var bittorrentDatagrams = Pool(empty: BitTorrent.DatagramState())
    var httpStreams = Pool(empty: HTTP.StreamState())

    /// What probing a chunk or a datagram came to.
    enum ProbeOutcome {
        /// No family can tell yet.
        case undecided
        /// A family recognised the flow; its decoder state is at `index` in its pool. When
        /// `consumed`, the family has read the chunk already; otherwise it is to be decoded.
        case recognised(Family, index: UInt32, consumed: Bool)
        /// No family will recognise the flow.
        case exhausted
    }

    // MARK: - TCP

    /// A probe for a new TCP flow.
    mutating func startProbe() -> UInt32 {
        probes.allocate(StreamProbe())
    }

    /// Offers the next in-order chunk of a probing flow's `direction` to every family still in
    /// the running, within the probing bounds; a direction that opens like a known non-P2P
    /// protocol ends probing at once. The probe is released when a family recognises the flow
    /// or none can.
    mutating func probe(_ index: UInt32, _ chunk: StreamChunk, direction: FlowDirection, context: inout DecodeContext) -> ProbeOutcome {
        if case .data(let bytes) = chunk, probes[index].isFirst(direction), KnownOpenings.endsStreamProbing(bytes) {
            probes.release(index)
            return .exhausted
        }
        guard probes[index].admit(chunk, direction: direction) else {
            if probes[index].isSpent {
                probes.release(index)
                return .exhausted
            }
            return .undecided
        }
        let bittorrentBit: UInt8 = 1 << Family.bittorrent.rawValue, httpBit: UInt8 = 1 << Family.http.rawValue
        if probes[index].alive & bittorrentBit != 0 {
            if probes[index].bittorrent.consume(chunk, direction: direction, context: &context) {
                let probe = probes.release(index)
                return .recognised(.bittorrent, index: bittorrentStreams.allocate(probe.bittorrent), consumed: true)
            }
            if probes[index].bittorrent.isDone { probes[index].alive &= ~bittorrentBit }
        }
        if probes[index].alive & httpBit != 0 {
            let verdict = direction == .toServer ? probes[index].http.toServer.offer(chunk) : probes[index].http.toClient.offer(chunk)
            if verdict == .yes {
                let probe = probes.release(index)
                var state = HTTP.StreamState()
                // The decoder sees each direction from its start.
                probe.http.toServer.replay(includingLatest: direction != .toServer) { _ = state.decode(.data($0), direction: .toServer, context: &context) }
                probe.http.toClient.replay(includingLatest: direction != .toClient) { _ = state.decode(.data($0), direction: .toClient, context: &context) }
                return .recognised(.http, index: httpStreams.allocate(state), consumed: false)
            }
            if probes[index].http.toServer.verdict == .no, probes[index].http.toClient.verdict == .no { probes[index].alive &= ~httpBit }
        }
        if probes[index].alive == 0 || probes[index].isSpent {
            probes.release(index)
            return .exhausted
        }
        return .undecided
    }

    /// Which family's encrypted stream a TCP direction's first payload looks like, if any
    /// (BitTorrent's MSE/PE key exchange). A flow both of whose directions open so, and that
    /// no family recognised, is counted as likely encrypted (never matched).
    static func encryptedOpening(_ payload: UnsafeRawBufferPointer) -> Family? {
        if BitTorrent.MSE.couldBeKeyExchange(payload) { return .bittorrent }
        return nil
    }

    /// Lets go of a probing flow.
    mutating func releaseProbe(_ index: UInt32) {
        probes.release(index)
    }

    /// Decodes the next in-order chunk of a recognised flow's `direction`.
    /// - Returns: whether the flow's decoder is done with both directions.
    mutating func decode(_ family: Family, _ index: UInt32, _ chunk: StreamChunk, direction: FlowDirection, context: inout DecodeContext) -> Bool {
        switch family {
        case .bittorrent:
            _ = bittorrentStreams[index].consume(chunk, direction: direction, context: &context)
            return bittorrentStreams[index].isDone
        case .http:
            _ = httpStreams[index].decode(chunk, direction: direction, context: &context)
            return httpStreams[index].isDone
        }
    }

    // MARK: - UDP

    /// Offers a datagram of a flow no family holds yet; a family that recognises it gets state
    /// (the datagram is then to be decoded). A first datagram that is DNS or QUIC ends probing.
    mutating func probeDatagram(_ payload: UnsafeRawBufferPointer, isFirst: Bool, direction: FlowDirection, ports: PortPair,
                                context: inout DecodeContext) -> ProbeOutcome {
        if isFirst, KnownOpenings.endsDatagramProbing(payload, ports: ports) { return .exhausted }
        guard BitTorrent.DatagramState.recognise(payload, ports: ports) == .yes else { return .undecided }
        return .recognised(.bittorrent, index: bittorrentDatagrams.allocate(BitTorrent.DatagramState()), consumed: false)
    }

    /// Decodes a datagram of a flow a family holds.
    /// - Returns: whether the family understood it.
    mutating func decodeDatagram(_ family: Family, _ index: UInt32, _ payload: UnsafeRawBufferPointer, direction: FlowDirection, ports: PortPair,
                                 protocolsSeen: UInt16, context: inout DecodeContext) -> Bool {
        switch family {
        case .bittorrent:
            return bittorrentDatagrams[index].decode(payload, direction: direction, ports: ports, protocolsSeen: protocolsSeen, context: &context)
        case .http:
            return false
        }
    }

    // MARK: - Both

    /// A flow matched: its decoders read it to its end (its transfer is evidence).
    mutating func followToEnd(_ family: Family, _ index: UInt32, transport: TransportProtocol) {
        switch (family, transport) {
        case (.bittorrent, .tcp): bittorrentStreams[index].followToEnd()
        case (.bittorrent, .udp): bittorrentDatagrams[index].followToEnd()
        default: break
        }
    }

    /// Releases a flow's decoder state, giving the bytes it held back to `budgets`, and returns
    /// what its flow_end says of it (by the family of its first protocol).
    mutating func release(_ family: Family, _ index: UInt32, transport: TransportProtocol, firstProtocol: P2PProtocol?,
                          budgets: inout SharedBudgets) -> FlowEndContext {
        var end = BitTorrent.FlowEnd()
        switch (family, transport) {
        case (.bittorrent, .tcp):
            let state = bittorrentStreams.release(index)
            budgets.metadataBytes += state.metadataBytesHeld
            end = state.flowEnd
        case (.bittorrent, .udp):
            let state = bittorrentDatagrams.release(index)
            budgets.metadataBytes += state.metadataBytesHeld
            end = state.flowEnd
        case (.http, _):
            let state = httpStreams.release(index)
            budgets.httpBodyBytes += state.bytesHeld
        }
        return Self.flowEndContext(firstProtocol, end)
    }

    /// The flow_end context of a flow whose state is gone.
    static func flowEndContext(_ firstProtocol: P2PProtocol?, _ end: BitTorrent.FlowEnd = BitTorrent.FlowEnd()) -> FlowEndContext {
        switch firstProtocol?.family {
        case .bittorrent: .bittorrent(end)
        case .http, nil: .none
        }
    }

    /// Decoder states in use, all families.
    var decodersInUse: Int { bittorrentStreams.count + bittorrentDatagrams.count + httpStreams.count }

    /// Bytes the pools take inline.
    var footprint: Int {
        probes.footprint + bittorrentStreams.footprint + bittorrentDatagrams.footprint + httpStreams.footprint
    }
}
