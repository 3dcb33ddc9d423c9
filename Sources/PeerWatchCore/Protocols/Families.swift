/// The registry of protocol families: the one place that lists them, their protocols and
/// messages, their pools, and the `switch` over families that the engine calls through. Adding
/// a family adds a case here and one line to each switch; `Detection/` and `Output/` do not
/// change.

/// A protocol family: the protocols one set of decoders reads.
public enum Family: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// BitTorrent: peer wire over TCP and uTP, DHT, trackers, local discovery.
    case bittorrent
    /// HTTP/1.x as framing for other families' identifiers (.torrent files, magnet links,
    /// Gnutella transfers).
    case http
    /// Gnutella 0.6, Gnutella2 and the Mojito DHT.
    case gnutella
    /// eDonkey2000/eMule over TCP and UDP, and Kad.
    case edonkey
    /// Direct Connect, NMDC and ADC.
    case directConnect

    public var description: String {
        switch self {
        case .bittorrent: "bittorrent"
        case .http: "http"
        case .gnutella: "gnutella"
        case .edonkey: "edonkey"
        case .directConnect: "directconnect"
        }
    }

    /// The families that recognise a TCP flow by how a direction opens, in the order they are
    /// asked (their openings cannot overlap).
    static let byOpening: [Family] = [.http, .gnutella, .edonkey, .directConnect]

    /// Whether a direction's first bytes open this family's stream.
    func recogniseOpening(_ first: UnsafeRawBufferPointer) -> Recognition {
        switch self {
        case .http: HTTP.recognise(first)
        case .gnutella: Gnutella.recognise(first)
        case .edonkey: EDonkey.recognise(first)
        case .directConnect: DirectConnect.recognise(first)
        case .bittorrent: .no
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
    /// Gnutella 0.6: handshakes, descriptors over TCP and UDP, HTTP transfers.
    case gnutella
    /// Gnutella2 (G2) packets over TCP and UDP.
    case gnutella2
    /// The Mojito DHT of Gnutella clients.
    case gnutellaDHT
    /// eDonkey2000/eMule over TCP and UDP.
    case edonkey
    /// Kad, eMule's DHT.
    case kad
    /// Direct Connect (NMDC and ADC).
    case directConnect

    public var description: String {
        switch self {
        case .bittorrent: "bittorrent"
        case .utp: "utp"
        case .bittorrentDHT: "bittorrent-dht"
        case .bittorrentTracker: "bittorrent-tracker"
        case .bittorrentLSD: "bittorrent-lsd"
        case .http: "http"
        case .gnutella: "gnutella"
        case .gnutella2: "gnutella2"
        case .gnutellaDHT: "gnutella-dht"
        case .edonkey: "edonkey"
        case .kad: "kad"
        case .directConnect: "directconnect"
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
        case .gnutella, .gnutella2, .gnutellaDHT: .gnutella
        case .edonkey, .kad: .edonkey
        case .directConnect: .directConnect
        }
    }
}

/// The message that carried an identifier (`p2p.message`): a family's own message kinds.
public enum MessageKind: Sendable, Hashable, CustomStringConvertible {
    case bittorrent(BitTorrent.Message)
    case http(HTTP.Message)
    case gnutella(Gnutella.Message)
    case edonkey(EDonkey.Message)
    case directConnect(DirectConnect.Message)

    public var description: String {
        switch self {
        case .bittorrent(let message): message.description
        case .http(let message): message.description
        case .gnutella(let message): message.description
        case .edonkey(let message): message.description
        case .directConnect(let message): message.description
        }
    }
}

/// What an observation carried besides its identifier: a family's own context, which writes its
/// own fields into `p2p.context`.
public enum ObservationContext: Sendable, Hashable {
    case none
    case bittorrent(BitTorrent.Context)
    case http(HTTP.Context)
    case gnutella(Gnutella.Context)
    case edonkey(EDonkey.Context)
    case directConnect(DirectConnect.Context)

    /// The context's fields, in the family's order.
    public func write<W: FieldWriter>(to writer: inout W) {
        switch self {
        case .none: break
        case .bittorrent(let context): context.write(to: &writer)
        case .http(let context): context.write(to: &writer)
        case .gnutella(let context): context.write(to: &writer)
        case .edonkey(let context): context.write(to: &writer)
        case .directConnect(let context): context.write(to: &writer)
        }
    }

    /// The torrent a message described, whichever family read it.
    public var torrent: TorrentInfo? {
        switch self {
        case .bittorrent(let context): context.torrent
        case .http(let context): context.torrent
        default: nil
        }
    }
}

/// What a flow_end record says of a flow beyond the generic fields: the fields of the family of
/// the flow's first protocol.
public enum FlowEndContext: Sendable, Equatable {
    case none
    case bittorrent(BitTorrent.FlowEnd)
    case gnutella(Gnutella.FlowEnd)
    case edonkey(EDonkey.FlowEnd)
    case directConnect(DirectConnect.FlowEnd)

    /// The fields, in the family's order.
    public func write<W: FieldWriter>(to writer: inout W) {
        switch self {
        case .none: break
        case .bittorrent(let end): end.write(to: &writer)
        case .gnutella(let end): end.write(to: &writer)
        case .edonkey(let end): end.write(to: &writer)
        case .directConnect(let end): end.write(to: &writer)
        }
    }

    /// The family these fields are of.
    var family: Family? {
        switch self {
        case .none: nil
        case .bittorrent: .bittorrent
        case .gnutella: .gnutella
        case .edonkey: .edonkey
        case .directConnect: .directConnect
        }
    }
}

/// Registry functions that are no family's own.
enum Families {
    /// The extractors of an HTTP request line: magnet links (any kind of identifier), then each
    /// family's (BitTorrent: tracker announces and scrapes; Gnutella: downloads by URN).
    /// - Returns: whether a family wants the flow's header blocks read (a Gnutella transfer).
    static func extractFromRequestLine(_ line: UnsafeRawBufferPointer, context: inout DecodeContext) -> Bool {
        MagnetLink.scan(line) { id in
            context.recognised(.http)
            context.observe(Observation(proto: .http, message: .httpMagnet, role: .seeking, contentID: id))
        }
        BitTorrent.HTTPTracker.extract(requestLine: line, context: &context)
        return Gnutella.Transfer.extract(requestLine: line, context: &context)
    }

    /// The extractors of an HTTP request's header block (Gnutella: the URN a download names).
    static func extractFromRequestHeaders(_ block: UnsafeRawBufferPointer, context: inout DecodeContext) {
        Gnutella.Transfer.extract(requestHeaders: block, context: &context)
    }

    /// The extractors of an HTTP response's header block (Gnutella: the URNs a servent names).
    static func extractFromResponseHeaders(_ block: UnsafeRawBufferPointer, status: Int, context: inout DecodeContext) {
        Gnutella.Transfer.extract(responseHeaders: block, status: status, context: &context)
    }
}

/// What the families keep of a TCP flow while it is probing: BitTorrent's probe state, the
/// first bytes of each direction (which the families that tell a flow by its opening look at),
/// and how much of each direction was offered (the probing bounds).
struct StreamProbe {
    var bittorrent = BitTorrent.StreamState()
    var openings = (toServer: OpeningBytes(), toClient: OpeningBytes())
    var bittorrentAlive = true
    /// Opening families still in the running, two bits each (toServer, toClient), in
    /// `Family.byOpening` order.
    var openingsAlive: UInt8 = 0xFF
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

    /// Whether the chunk just admitted was `direction`'s first.
    func isFirstAdmitted(_ direction: FlowDirection) -> Bool {
        direction == .toServer ? chunksOffered.toServer == 1 : chunksOffered.toClient == 1
    }

    /// Whether both directions' bounds are spent.
    var isSpent: Bool {
        func spent(_ bytes: Int32, _ chunks: UInt16) -> Bool { bytes >= ProbingBounds.maxBytes || chunks >= ProbingBounds.maxPackets }
        return spent(bytesOffered.toServer, chunksOffered.toServer) && spent(bytesOffered.toClient, chunksOffered.toClient)
    }

    /// Whether any family may still recognise the flow.
    var anyAlive: Bool { bittorrentAlive || openingsAlive != 0 }

    /// Asks the opening families still in the running about `direction`'s first bytes; returns
    /// the one that recognises the flow, if any.
    mutating func recogniseOpening(_ direction: FlowDirection) -> Family? {
        let opening = direction == .toServer ? openings.toServer : openings.toClient
        let shift: UInt8 = direction == .toServer ? 0 : 1
        var recognised: Family?
        opening.withBytes { first in
            for (index, family) in Family.byOpening.enumerated() {
                let bit: UInt8 = 1 << (UInt8(index) * 2 + shift)
                guard openingsAlive & bit != 0 else { continue }
                var verdict = opening.startsWithGap ? .no : family.recogniseOpening(first)
                // Once all the bytes kept are in, an opening that is still a prefix never will be.
                if verdict == .needMore, first.count >= OpeningBytes.capacity { verdict = .no }
                switch verdict {
                case .yes:
                    recognised = family
                    return
                case .no:
                    openingsAlive &= ~bit
                case .needMore:
                    break
                }
            }
        }
        return recognised
    }
}

/// The families' per-flow states, in pools: a flow holds an index into its family's pool.
struct FamilyPools {
    var probes = Pool(empty: StreamProbe())
    var bittorrentStreams = Pool(empty: BitTorrent.StreamState())
    var bittorrentDatagrams = Pool(empty: BitTorrent.DatagramState())
    var httpStreams = Pool(empty: HTTP.StreamState())
    var gnutellaStreams = Pool(empty: Gnutella.StreamState())
    var gnutellaDatagrams = Pool(empty: Gnutella.DatagramState())
    var edonkeyStreams = Pool(empty: EDonkey.StreamState())
    var edonkeyDatagrams = Pool(empty: EDonkey.DatagramState())
    var directConnectStreams = Pool(empty: DirectConnect.StreamState())
    var directConnectDatagrams = Pool(empty: DirectConnect.DatagramState())

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
        if direction == .toServer, context.edonkeyUserHashes.count > 0, probes[index].isFirstAdmitted(direction), case .data(let bytes) = chunk,
           bytes.count >= EDonkey.Obfuscation.initiatorHead, !EDonkey.Frames.isProtocol(bytes[0]),
           let responder = context.endpoints?.responder, let hash = context.edonkeyUserHashes.hash(for: responder),
           let opened = EDonkey.Obfuscation.open(bytes, userHash: hash.digest) {
            // An obfuscated eMule stream to a client whose user hash was seen in clear.
            probes.release(index)
            var state = EDonkey.StreamState(obfuscated: opened)
            _ = state.decode(.data(UnsafeRawBufferPointer(rebasing: bytes[opened.used...])), direction: direction, context: &context)
            context.encryptedStream = .edonkey
            context.recognised(.edonkey)
            return .recognised(.edonkey, index: edonkeyStreams.allocate(state), consumed: true)
        }
        if probes[index].bittorrentAlive {
            if probes[index].bittorrent.consume(chunk, direction: direction, context: &context) {
                let probe = probes.release(index)
                return .recognised(.bittorrent, index: bittorrentStreams.allocate(probe.bittorrent), consumed: true)
            }
            if probes[index].bittorrent.isDone { probes[index].bittorrentAlive = false }
        }
        if probes[index].openingsAlive != 0 {
            switch direction {
            case .toServer: probes[index].openings.toServer.add(chunk)
            case .toClient: probes[index].openings.toClient.add(chunk)
            }
            if let family = probes[index].recogniseOpening(direction) {
                let probe = probes.release(index)
                return .recognised(family, index: start(family, replaying: probe, decidedBy: direction, context: &context), consumed: false)
            }
        }
        if !probes[index].anyAlive || probes[index].isSpent {
            probes.release(index)
            return .exhausted
        }
        return .undecided
    }

    /// Makes the decoder state of an opening family that recognised a flow, and has it read
    /// both directions from their start (the deciding chunk itself is decoded next).
    private mutating func start(_ family: Family, replaying probe: StreamProbe, decidedBy direction: FlowDirection, context: inout DecodeContext) -> UInt32 {
        func replay(_ body: (StreamChunk, FlowDirection) -> Void) {
            probe.openings.toServer.replay(includingLatest: direction != .toServer) { body($0, .toServer) }
            probe.openings.toClient.replay(includingLatest: direction != .toClient) { body($0, .toClient) }
        }
        switch family {
        case .http, .bittorrent:
            var state = HTTP.StreamState()
            replay { _ = state.decode($0, direction: $1, context: &context) }
            return httpStreams.allocate(state)
        case .gnutella:
            var state = Gnutella.StreamState()
            replay { _ = state.decode($0, direction: $1, context: &context) }
            return gnutellaStreams.allocate(state)
        case .edonkey:
            var state = EDonkey.StreamState()
            replay { _ = state.decode($0, direction: $1, context: &context) }
            return edonkeyStreams.allocate(state)
        case .directConnect:
            var state = DirectConnect.StreamState()
            replay { _ = state.decode($0, direction: $1, context: &context) }
            return directConnectStreams.allocate(state)
        }
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
            return httpStreams[index].decode(chunk, direction: direction, context: &context) == .done && httpStreams[index].isDone
        case .gnutella:
            return gnutellaStreams[index].decode(chunk, direction: direction, context: &context) == .done
        case .edonkey:
            return edonkeyStreams[index].decode(chunk, direction: direction, context: &context) == .done
        case .directConnect:
            return directConnectStreams[index].decode(chunk, direction: direction, context: &context) == .done
        }
    }

    // MARK: - UDP

    /// Offers a datagram of a flow no family holds yet; a family that recognises it gets state
    /// (the datagram is then to be decoded). A first datagram that is DNS or QUIC ends probing.
    /// The strictest tests go first: a Gnutella descriptor's length field or a Mojito header
    /// cannot be mistaken, while BitTorrent takes any 16-byte datagram as a tracker connect.
    mutating func probeDatagram(_ payload: UnsafeRawBufferPointer, isFirst: Bool, direction: FlowDirection, ports: PortPair,
                                context: inout DecodeContext) -> ProbeOutcome {
        if isFirst, KnownOpenings.endsDatagramProbing(payload, ports: ports) { return .exhausted }
        if Gnutella.DatagramState.recognise(payload) == .yes {
            return .recognised(.gnutella, index: gnutellaDatagrams.allocate(Gnutella.DatagramState()), consumed: false)
        }
        if EDonkey.DatagramState.recognise(payload) == .yes {
            return .recognised(.edonkey, index: edonkeyDatagrams.allocate(EDonkey.DatagramState()), consumed: false)
        }
        if DirectConnect.DatagramState.recognise(payload) == .yes {
            return .recognised(.directConnect, index: directConnectDatagrams.allocate(DirectConnect.DatagramState()), consumed: false)
        }
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
        case .gnutella:
            return gnutellaDatagrams[index].decode(payload, direction: direction, context: &context)
        case .edonkey:
            return edonkeyDatagrams[index].decode(payload, context: &context)
        case .directConnect:
            return directConnectDatagrams[index].decode(payload, context: &context)
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
        var held = FlowEndContext.none
        switch (family, transport) {
        case (.bittorrent, .tcp):
            let state = bittorrentStreams.release(index)
            budgets.metadataBytes += state.metadataBytesHeld
            held = .bittorrent(state.flowEnd)
        case (.bittorrent, .udp):
            let state = bittorrentDatagrams.release(index)
            budgets.metadataBytes += state.metadataBytesHeld
            held = .bittorrent(state.flowEnd)
        case (.http, _):
            var state = httpStreams.release(index)
            budgets.httpBodyBytes += state.bytesHeld
            budgets.inflaters += state.releaseInflaters()
        case (.gnutella, .tcp):
            var state = gnutellaStreams.release(index)
            state.release(budgets: &budgets)
            held = .gnutella(state.flowEnd)
        case (.gnutella, .udp):
            gnutellaDatagrams.release(index)
        case (.edonkey, .tcp):
            held = .edonkey(edonkeyStreams.release(index).flowEnd)
        case (.edonkey, .udp):
            edonkeyDatagrams.release(index)
        case (.directConnect, .tcp):
            held = .directConnect(directConnectStreams.release(index).flowEnd)
        case (.directConnect, .udp):
            directConnectDatagrams.release(index)
        }
        return Self.flowEndContext(firstProtocol, held)
    }

    /// The flow_end context of a flow: the fields its decoder held if they are of the family of
    /// its first protocol, else that family's fields empty.
    static func flowEndContext(_ firstProtocol: P2PProtocol?, _ held: FlowEndContext = .none) -> FlowEndContext {
        guard let family = firstProtocol?.family else { return .none }
        if held.family == family { return held }
        switch family {
        case .bittorrent: return .bittorrent(BitTorrent.FlowEnd())
        case .gnutella: return .gnutella(Gnutella.FlowEnd())
        case .edonkey: return .edonkey(EDonkey.FlowEnd())
        case .directConnect: return .directConnect(DirectConnect.FlowEnd())
        case .http: return .none
        }
    }

    /// Decoder states in use, all families.
    var decodersInUse: Int {
        bittorrentStreams.count + bittorrentDatagrams.count + httpStreams.count + gnutellaStreams.count + gnutellaDatagrams.count
            + edonkeyStreams.count + edonkeyDatagrams.count + directConnectStreams.count + directConnectDatagrams.count
    }

    /// Bytes the pools take inline.
    var footprint: Int {
        probes.footprint + bittorrentStreams.footprint + bittorrentDatagrams.footprint + httpStreams.footprint + gnutellaStreams.footprint
            + gnutellaDatagrams.footprint + edonkeyStreams.footprint + edonkeyDatagrams.footprint + directConnectStreams.footprint
            + directConnectDatagrams.footprint
    }
}
