/// Odd things decoders meet and go on past, counted by kind (as Suricata's decoder events and
/// Zeek's weirds): never an error, never a record, only a number an operator can watch.
public enum Anomaly: Int, CaseIterable, Sendable, CustomStringConvertible {
    /// A UDP tracker scrape of more infohashes than BEP 15 allows (74); decoded anyway.
    case udpScrapeOverLimit
    /// A Local Service Discovery message longer than BEP 14 clients send (4,096 bytes); decoded anyway.
    case lsdOverLength
    /// An HTTP body (a .torrent) not collected because all flows' bodies together hold the budget.
    case httpBodyOverBudget
    /// A compressed stream or message that would inflate past its cap (a zip bomb, or more than
    /// anyone sends): that direction or message is not read further.
    case inflateOverLimit
    /// Compressed bytes that are not what their stream says (bad zlib data).
    case inflateMalformed
    /// A deflated stream not read because all flows' inflaters together hold the budget.
    case inflateOverBudget
    /// A stream whose framing broke (a length past its cap, a header that cannot be): that
    /// direction is not read further.
    case framingViolation

    /// The metrics label.
    public var description: String {
        switch self {
        case .udpScrapeOverLimit: "udp_scrape_over_74_hashes"
        case .lsdOverLength: "lsd_over_4096_bytes"
        case .httpBodyOverBudget: "http_body_over_budget"
        case .inflateOverLimit: "inflate_over_limit"
        case .inflateMalformed: "inflate_malformed"
        case .inflateOverBudget: "inflate_over_budget"
        case .framingViolation: "framing_violation"
        }
    }
}
