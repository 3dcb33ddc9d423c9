import Crypto
import Foundation
import Testing
import PeerWatchCore
@testable import PeerWatchRuntime

/// The records `read` gives on every corpus capture, pinned byte for byte (as the SHA-256 of
/// their encoded lines, sensor "corpus", no interface), with the observations and P2P flows
/// counted: taken before the protocol seam and the flow table were rebuilt, they must stay the
/// same through any rework of the packet path. ndpi-gnutella.pcap's changed once, when the
/// Gnutella family came (it had no records before); every other capture's stayed the same.
@Suite(.enabled(if: Corpus.isPresent || Corpus.isRequired, "../shared/corpus is absent (outside CI)"))
struct CorpusRecordsTests {
    static let digests: [String: String] = [
        "arkime-bt-udp.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p=bittorrent-dht:3 enc=0",
        "arkime-ip-boundaries.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p=bittorrent-dht:1 enc=0",
        "ndpi-1kxun.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
        "ndpi-bitcoin.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
        "ndpi-bittorrent.pcap": "9310a828ccd89c0382fafc56f2043a897f164f9640e1b312f7a45c1ed71761fc 48 obs=41 p2p=bittorrent:24 enc=0",
        "ndpi-bittorrent_tcp_miss.pcapng": "46fa112c13919cc72ac05a3e214144a830ebc0fa08b00fa42e6763471c7fb618 2 obs=1 p2p=bittorrent:1 enc=1",
        "ndpi-bittorrent_utp.pcap": "99071210153902f8bd122bc2c7ae9fa111ec888149a5b3e825d7c3a01af6a0dd 5 obs=5 p2p=utp:1,bittorrent-dht:1 enc=0",
        "ndpi-bt-dns.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
        "ndpi-bt-http.pcapng": "914a0834ce206046f145098ca3e19428aea840bf9a9ef1ef9ddaaf830d5f904b 2 obs=1 p2p=bittorrent-tracker:1 enc=0",
        "ndpi-bt_search.pcap": "10d67cb19cbb6af5f721e82c9f0ec60ae7a22414967f5f9a12da70a813240677 4 obs=2 p2p=bittorrent-lsd:2 enc=0",
        "ndpi-dns_fragmented.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
        "ndpi-edonkey.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p=edonkey:1 enc=0",
        "ndpi-exe_download.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
        "ndpi-gnutella.pcap": "bc5429d3b4b37a74d33ce2d4254f6118ff01253c6b8a7b239a25e56561fc1e42 700 obs=801 p2p=gnutella:407,gnutella2:277,gnutella-dht:79 enc=0",
        "ndpi-google_ssl.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
        "ndpi-http_ipv6.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
        "ndpi-instagram.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
        "ndpi-netflix.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
        "ndpi-ossfuzz_seed_fake_traces_1.pcapng": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
        "ndpi-ssh.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
        "ndpi-syncthing.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
        "ndpi-targusdataspeed_false_positives.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p=bittorrent-dht:2 enc=0",
        "ndpi-tls_torrent.pcapng": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
        "ndpi-youtube_quic.pcap": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
        "ndpi-zoom_p2p.pcapng": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
        "suricata-bittorrent-dht.pcap": "f74370b8d7eb5c1ede9e24c3bc923a734d2739f69928530bca40ddde1b612574 2 obs=5 p2p=bittorrent-dht:2 enc=0",
        "zeek-gnutella-max-line.pcapng": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 0 obs=0 p2p= enc=0",
    ]

    static func digest(of truth: Corpus.Truth, threads: Int = 1) throws -> (String, String) {
        let directory = try TemporaryDirectory()
        let path = try #require(Corpus.root).appendingPathComponent("pcap/\(truth.capture)").path
        let result = try OfflineAnalysis.run(paths: [path], watchList: try Corpus.watchList(for: truth, in: directory), threads: threads)
        var encoder = AlertEncoder(sensor: SensorIdentity(name: "corpus", interface: nil))
        var hasher = SHA256()
        for event in result.events { hasher.update(data: encoder.encode(event)) }
        // What no record shows: every identifier observed, the P2P flows by protocol, the
        // flows taken for encrypted BitTorrent.
        let c = result.counters
        // (by name, those seen: a new protocol leaves the summaries of old captures alone)
        let p2p = P2PProtocol.allCases.filter { c.p2pFlows[Int($0.rawValue)] > 0 }.map { "\($0):\(c.p2pFlows[Int($0.rawValue)])" }
        let summary = "\(result.events.count) obs=\(c.observations) p2p=\(p2p.joined(separator: ",")) enc=\(c.likelyEncryptedBitTorrentFlows)"
        return (Hex.encode(Array(hasher.finalize())), summary)
    }

    @Test func everyCaptureGivesTheRecordsItGaveBefore() throws {
        try #require(Corpus.isPresent)
        var found: [String: String] = [:]
        for truth in try Corpus.truths() {
            let (digest, summary) = try Self.digest(of: truth)
            found[truth.capture] = "\(digest) \(summary)"
        }
        if ProcessInfo.processInfo.environment["PEERWATCH_PRINT_DIGESTS"] != nil {
            for (capture, digest) in found.sorted(by: { $0.key < $1.key }) { print("        \"\(capture)\": \"\(digest)\",") }
        }
        #expect(found == Self.digests)
    }

    /// The same records, byte for byte, when the capture is read by several workers.
    @Test(arguments: [2, 3])
    func severalWorkersGiveTheSameRecords(threads: Int) throws {
        try #require(Corpus.isPresent)
        var found: [String: String] = [:]
        for truth in try Corpus.truths() {
            let (digest, summary) = try Self.digest(of: truth, threads: threads)
            found[truth.capture] = "\(digest) \(summary)"
        }
        #expect(found == Self.digests)
    }
}
