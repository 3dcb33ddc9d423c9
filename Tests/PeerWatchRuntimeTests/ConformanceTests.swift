import Foundation
import Testing
import PeerWatchCore
@testable import PeerWatchRuntime

/// The reference corpus beside the repository (`../shared/corpus`), with ground truth per capture.
enum Corpus {
    static let root: URL? = {
        if let override = ProcessInfo.processInfo.environment["PEERWATCH_CORPUS"] {
            return URL(fileURLWithPath: override)
        }
        // Tests/PeerWatchRuntimeTests/ConformanceTests.swift → the package root → ../shared/corpus
        let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let candidate = packageRoot.deletingLastPathComponent().appendingPathComponent("shared/corpus")
        return FileManager.default.fileExists(atPath: candidate.appendingPathComponent("truth").path) ? candidate : nil
    }()

    static var isPresent: Bool { root != nil }

    /// CI always has the corpus beside the clone (CI=true): there it must be found, not skipped.
    static var isRequired: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    struct Expectation: Hashable, CustomStringConvertible {
        var flow: Set<String>   // both endpoints, "address|port"
        var id: String
        var firstSeen: String
        var sentByInitiator: Bool
        /// PeerWatch's protocol name (the truth's, which are the same).
        var proto: String
        var description: String { "\(proto) \(id) on \(flow.sorted()) at \(firstSeen)\(sentByInitiator ? "" : " (sent by responder)")" }
    }

    /// The messages PeerWatch may report for a truth entry's messages (the truth names them as
    /// the tools that derived it do), with the role each carries by the README's table.
    static func allowed(protocol proto: String, messages: [String], sentByInitiator: Bool) -> Set<String> {
        var allowed = Set<String>()
        for message in messages {
            switch (proto, message) {
            case ("bittorrent", "handshake"), ("utp", "handshake"):
                allowed.insert("handshake/" + (sentByInitiator ? "seeking" : "offering"))
            case ("bittorrent-dht", "get_peers"): allowed.insert("dht.get_peers/seeking")
            case ("bittorrent-dht", "announce_peer"): allowed.insert("dht.announce_peer/offering")
            case ("bittorrent-lsd", "BT-SEARCH"): allowed.insert("lsd/seeking")
            case ("bittorrent-tracker", "announce"), ("bittorrent-tracker", "http_announce"): allowed.insert("tracker.announce/seeking")
            case ("gnutella", let hit) where hit.hasPrefix("query_hit("): allowed.insert("query_hit/offering")
            case ("gnutella", let query) where query.hasPrefix("query("): allowed.insert("query/seeking")
            case ("gnutella2", "Q2"): allowed.insert("g2.query/seeking")
            case ("gnutella2", "QH2"): allowed.insert("g2.hit/offering")
            case ("gnutella-dht", "mojito_find_value_ALOC"): allowed.insert("dht.find_value/seeking")
            case ("gnutella-dht", "mojito_store_ALOC"): allowed.insert("dht.store/offering")
            // A download request names the file by URN; the response names what it serves.
            case ("gnutella", let uri) where uri == "request_uri" || uri.hasPrefix("http request URI"): allowed.insert("download/seeking")
            case ("gnutella", let header) where header == "response_header" || header.hasPrefix("http header"):
                allowed.insert("content_urn/transferring")
            default: allowed.insert("unknown truth message \(proto)/\(message)")
            }
        }
        return allowed
    }

    struct Truth {
        var capture: String
        var category: String
        var expect: [[String: Any]]
        var optional: [[String: Any]]
        var mustNotReport: [String]
    }

    static func truths() throws -> [Truth] {
        guard let root else { return [] }
        let directory = root.appendingPathComponent("truth")
        return try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }.sorted().map { name in
            let data = try Data(contentsOf: directory.appendingPathComponent(name))
            let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
            return Truth(
                capture: object["capture"] as? String ?? "",
                category: object["category"] as? String ?? "",
                expect: object["expect"] as? [[String: Any]] ?? [],
                optional: object["expect_optional"] as? [[String: Any]] ?? [],
                mustNotReport: (object["must_not_report"] as? [[String: Any]] ?? []).compactMap { $0["value"] as? String }
            )
        }
    }

    static func endpoint(_ text: String) -> String {
        guard let colon = text.lastIndex(of: ":") else { return text }
        var address = String(text[..<colon])
        if address.hasPrefix("["), address.hasSuffix("]") { address = String(address.dropFirst().dropLast()) }
        let normalised = IPAddress(address).map(\.description) ?? address
        return "\(normalised)|\(text[text.index(after: colon)...])"
    }

    static func expectation(_ entry: [String: Any]) -> Expectation? {
        guard let flow = entry["flow"] as? [String: Any], let src = flow["src"] as? String, let dst = flow["dst"] as? String,
              let id = entry["id"] as? String, let firstSeen = entry["first_seen"] as? String else { return nil }
        return Expectation(flow: [endpoint(src), endpoint(dst)], id: id, firstSeen: firstSeen,
                           sentByInitiator: (entry["sent_by"] as? String) != "dst", proto: entry["protocol"] as? String ?? "")
    }

    /// A watch list holding every identifier the truth expects and every value it says must
    /// not be reported, so that a false positive would raise a match.
    static func watchList(for truth: Truth, in directory: TemporaryDirectory) throws -> WatchListSnapshot {
        var lines = ["btih:\(String(repeating: "7", count: 40)) never seen"]
        for entry in truth.expect + truth.optional {
            if let kind = entry["id_type"] as? String, let id = entry["id"] as? String { lines.append("\(kind):\(id)") }
        }
        for value in truth.mustNotReport {
            switch value.count {
            case 40: lines += ["btih:\(value) must-not-report", "sha1:\(value) must-not-report"]
            case 32: lines += ["ed2k:\(value) must-not-report", "md5:\(value) must-not-report"]
            default: break
            }
        }
        let path = try directory.write("truth.txt", text: lines.joined(separator: "\n") + "\n")
        return try WatchListLoader.load(paths: [path])
    }
}

/// Runs PeerWatch over the corpus and compares with its ground truth, flow by flow.
@Suite(.enabled(if: Corpus.isPresent || Corpus.isRequired, "../shared/corpus is absent: conformance skipped (outside CI)"))
struct ConformanceTests {
    /// Matches each capture raises: one per truth entry, but for ndpi-bt_search, whose two LSD
    /// announcements 5 minutes apart fall in two flow lifetimes (the UDP idle timeout is 120 s).
    static let matchCounts = [
        "ndpi-bittorrent.pcap": 24, "ndpi-bittorrent_tcp_miss.pcapng": 1, "ndpi-bittorrent_utp.pcap": 4,
        "ndpi-bt-http.pcapng": 1, "ndpi-bt_search.pcap": 2, "suricata-bittorrent-dht.pcap": 1, "ndpi-gnutella.pcap": 663,
    ]

    @Test func theCorpusIsThere() throws {
        try #require(Corpus.isPresent, "CI=true but ../shared/corpus (or PEERWATCH_CORPUS) was not found")
        #expect(try Corpus.truths().count == 27)
    }

    /// The protocols whose identifiers PeerWatch decodes today (truth `protocol` names).
    static let decodedProtocols: Set<String> = ["bittorrent", "utp", "bittorrent-dht", "bittorrent-tracker", "bittorrent-lsd",
                                                "gnutella", "gnutella2", "gnutella-dht", "edonkey", "kad", "directconnect"]

    @Test func everyBitTorrentHandshakeCaptureMatchesItsTruthExactly() throws {
        let truths = try Corpus.truths().filter { truth in truth.expect.contains { ($0["protocol"] as? String) == "bittorrent" } }
        try #require(Corpus.isPresent)
        #expect(truths.map(\.capture).sorted() == ["ndpi-bittorrent.pcap", "ndpi-bittorrent_tcp_miss.pcapng"])
        for truth in truths {
            try check(truth)
        }
    }

    /// ndpi-gnutella.pcap's 663 identifiers, most inside deflated Gnutella and G2 links, each on
    /// its flow at the packet that completed it; the eDonkey hello capture and Zeek's long
    /// Gnutella line, with nothing invented (the eDonkey user hashes and the Mojito PROX key
    /// are in the watch list as traps).
    @Test func everyGnutellaAndEDonkeyCaptureMatchesItsTruthExactly() throws {
        try #require(Corpus.isPresent)
        let names: Set<String> = ["ndpi-gnutella.pcap", "ndpi-edonkey.pcap", "zeek-gnutella-max-line.pcapng"]
        let truths = try Corpus.truths().filter { names.contains($0.capture) }
        #expect(truths.count == 3)
        for truth in truths {
            try check(truth)
        }
    }

    @Test func otherP2PCapturesGetNoInventedIdentifiers() throws {
        try #require(Corpus.isPresent)
        let truths = try Corpus.truths().filter { $0.category == "p2p" && !$0.expect.contains { ($0["protocol"] as? String) == "bittorrent" } }
        #expect(truths.count == 10)
        for truth in truths {
            try check(truth)
        }
    }

    @Test func negativeCapturesYieldNothing() throws {
        try #require(Corpus.isPresent)
        let truths = try Corpus.truths().filter { $0.category != "p2p" }
        #expect(truths.count == 15)
        for truth in truths {
            let directory = try TemporaryDirectory()
            let path = try #require(Corpus.root).appendingPathComponent("pcap/\(truth.capture)").path
            let result = try OfflineAnalysis.run(paths: [path], watchList: try Corpus.watchList(for: truth, in: directory))
            #expect(result.events.isEmpty, "\(truth.capture): \(result.events.count) records")
            #expect(result.counters.observations == 0, "\(truth.capture)")
            #expect(result.counters.p2pFlows.reduce(0, +) == 0, "\(truth.capture)")
            #expect(result.counters.packets > 0, "\(truth.capture)")
        }
    }

    func check(_ truth: Corpus.Truth) throws {
        let directory = try TemporaryDirectory()
        let path = try #require(Corpus.root).appendingPathComponent("pcap/\(truth.capture)").path
        let result = try OfflineAnalysis.run(paths: [path], watchList: try Corpus.watchList(for: truth, in: directory))
        let expected = Set(truth.expect.filter { Self.decodedProtocols.contains($0["protocol"] as? String ?? "") }.compactMap(Corpus.expectation))
        let optional = Set(truth.optional.filter { Self.decodedProtocols.contains($0["protocol"] as? String ?? "") }.compactMap(Corpus.expectation))
        // The truth lists each identifier once per 5-tuple, at its first sighting.
        var earliest: [String: MatchAlert] = [:]
        for alert in result.matches {
            let endpoints = ["\(alert.source.address)|\(alert.source.port)", "\(alert.destination.address)|\(alert.destination.port)"].sorted()
            let key = "\(endpoints)|\(alert.observation.contentID.hex)"
            if let seen = earliest[key], seen.timestamp <= alert.timestamp { continue }
            earliest[key] = alert
        }
        let found = Set(earliest.values.map { alert in
            Corpus.Expectation(
                flow: ["\(alert.source.address)|\(alert.source.port)", "\(alert.destination.address)|\(alert.destination.port)"],
                id: alert.observation.contentID.hex, firstSeen: alert.timestamp.iso8601, sentByInitiator: alert.direction == .toServer,
                proto: alert.observation.proto.description)
        }).subtracting(optional)
        let missing = expected.subtracting(found)
        let invented = found.subtracting(expected)
        #expect(missing.isEmpty, "\(truth.capture): missing \(missing.sorted { $0.description < $1.description })")
        #expect(invented.isEmpty, "\(truth.capture): invented \(invented.sorted { $0.description < $1.description })")
        // One match per identifier per flow lifetime (a flow idle past its timeout starts anew,
        // as the 5-minute LSD announcements in ndpi-bt_search.pcap do).
        let perFlow = Dictionary(grouping: result.matches) { "\($0.flowID)|\($0.observation.contentID)" }
        #expect(perFlow.values.allSatisfy { $0.count == 1 }, "\(truth.capture): more than one match per identifier and flow")
        #expect(result.matches.count == Self.matchCounts[truth.capture, default: expected.count], "\(truth.capture): \(result.matches.count) matches")
        // Message and role, as the truth's messages and sender call for.
        for alert in result.matches {
            let endpoints: Set<String> = ["\(alert.source.address)|\(alert.source.port)", "\(alert.destination.address)|\(alert.destination.port)"]
            guard let entry = truth.expect.first(where: { entry in
                Corpus.expectation(entry).map { $0.flow == endpoints && $0.id == alert.observation.contentID.hex } ?? false
            }), let expectation = Corpus.expectation(entry) else { continue }
            let allowed = Corpus.allowed(protocol: expectation.proto, messages: entry["messages"] as? [String] ?? [], sentByInitiator: expectation.sentByInitiator)
            let reported = "\(alert.observation.message)/\(alert.observation.role)"
            #expect(allowed.contains(reported), "\(truth.capture): \(expectation) reported as \(reported), expected one of \(allowed.sorted())")
        }
    }
}
