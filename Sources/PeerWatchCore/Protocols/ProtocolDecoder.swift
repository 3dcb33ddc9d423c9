/// The seam every protocol family plugs into, as Suricata's app-layer parsers and Zeek's
/// analyzers do: recognition from a flow's first bytes, then a decoder per TCP direction or per
/// UDP flow, and the context each family writes into alerts. `Detection/` and `Output/` name no
/// family: they see only these types and the registry in `Families.swift`.
///
/// Adding a family (README, "Adding a protocol family"): a folder `Protocols/<Family>/` with its
/// recognition, framers, messages, decoders and context; one case in `Family` and its
/// protocols and messages in `Families.swift`, its pools in `FamilyPools`, one line in each of
/// the registry's dispatch switches; its tests and fixtures.

/// What a family says about a flow's first bytes (Suricata's `probe`, Zeek's DPD signature).
public enum Recognition: Sendable, Equatable {
    /// Not this family's; it is not asked again on this direction.
    case no
    /// Cannot tell yet; ask again with the next bytes (within the probing bounds).
    case needMore
    /// This family's: it gets decoder state and reads on.
    case yes
}

/// What a decoder says after a chunk or a datagram (Suricata's `AppLayerResult`).
public enum DecodeStatus: Sendable, Equatable {
    /// Keep feeding.
    case more
    /// Nothing more to learn on this direction: stop feeding it.
    case done
    /// The bytes broke the protocol: stop this family on this direction, and count why.
    case violation(WireError)
}

/// How long probing goes on before a flow is let go: Zeek's `dpd_buffer_size` and
/// `dpd_max_packets`, per direction.
public enum ProbingBounds {
    /// Bytes of a TCP direction offered to families: BitTorrent's handshake may follow up to
    /// ~1.2 KiB of MSE negotiation, or come later in a stream picked up mid-way.
    public static let maxBytes = 8 * 1024
    /// Segments with payload offered per TCP direction.
    public static let maxPackets = 64
    /// Packets of a flow whose other direction stays silent (asymmetric routing) before it is
    /// let go.
    public static let maxOneWayPackets = 64
    /// UDP datagrams of a flow looked at with no family recognising them.
    public static let maxUnrecognisedDatagrams = 4
}

/// What every decoder call can reach besides its own state: where observations go, the budgets
/// all flows share, and the protocol the call recognised, if any. One per engine, reused.
public struct DecodeContext {
    /// Observations of the packet at hand; reused, so it allocates only when a packet carries
    /// more identifiers than any before it.
    public internal(set) var observations: [Observation] = []
    /// Bytes decoders may hold between packets, shared by all flows, and anomaly counts.
    var budgets: SharedBudgets
    /// The first P2P protocol the packet showed.
    public internal(set) var sign: P2PProtocol?
    /// The family whose encrypted stream the packet showed the flow to be (and that reads it
    /// decrypted: eMule obfuscation to a client whose user hash is known).
    var encryptedStream: Family?
    /// The flow's two ends, for decoders that key shared state by them.
    var endpoints: (initiator: Endpoint, responder: Endpoint)?
    /// User hashes eMule clients sent in clear, for reading their obfuscated streams.
    var edonkeyUserHashes = EDonkey.UserHashMemory()
    /// The one inflater for whole compressed messages, made at the first, reset for each.
    var messageInflater: Inflater?
    /// Reused output of `inflateMessage`.
    var scratch: [UInt8] = []

    init(configuration: EngineConfiguration) {
        budgets = SharedBudgets(limits: configuration.decoderLimits)
        observations.reserveCapacity(128)
    }

    /// Starts a new packet.
    mutating func reset() {
        observations.removeAll(keepingCapacity: true)
        sign = nil
        encryptedStream = nil
        endpoints = nil
    }

    /// Notes that the packet showed `proto` (the first protocol of a packet is its sign).
    mutating func recognised(_ proto: P2PProtocol) {
        if sign == nil { sign = proto }
    }

    /// Adds an observation.
    mutating func observe(_ observation: Observation) {
        observations.append(observation)
    }
}

/// The two ports of a flow's packet, as a hint for recognition (never a proof).
public struct PortPair: Sendable, Equatable {
    public var source: UInt16
    public var destination: UInt16
    public init(source: UInt16, destination: UInt16) {
        self.source = source
        self.destination = destination
    }
}

/// Where a family's context fields go: Output's JSON writer implements it, so that a family
/// writes its own fields (names, order, values) and Output never names them.
public protocol FieldWriter {
    /// A string field, or `null`.
    mutating func field(_ key: String, _ value: String?)
    /// An integer field.
    mutating func field<T: BinaryInteger>(_ key: String, _ value: T)
    /// A boolean field.
    mutating func field(_ key: String, _ value: Bool)
    /// Opens an object-valued field; `endObject` closes it.
    mutating func beginObject(_ key: String)
    mutating func endObject()
}
