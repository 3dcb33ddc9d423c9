import Foundation
import Testing
import PeerWatchCore
import PeerWatchTestSupport
@testable import PeerWatchRuntime

/// Every corpus capture re-wrapped in every carrier (as `tools/rewrap` does) gives the same
/// identifiers, on the same inner flows, in the same messages and roles, at the same moments,
/// as the capture itself; and every match says how its packet arrived.
@Suite(.enabled(if: Corpus.isPresent || Corpus.isRequired, "../shared/corpus is absent (outside CI)"))
struct CarrierConformanceTests {
    /// What a run found, carrier aside.
    static func findings(_ result: OfflineAnalysis.Result) -> [String] {
        result.matches.map { alert in
            "\(alert.timestamp.iso8601) \(alert.source.address)|\(alert.source.port) > \(alert.destination.address)|\(alert.destination.port) "
                + "\(alert.observation.proto) \(alert.observation.message)/\(alert.observation.role) \(alert.observation.contentID.hex)"
        }.sorted()
    }

    /// A capture's watch list, its plain run, and its frames, for re-wrapping.
    static func plainRun(_ truth: Corpus.Truth) throws
        -> (directory: TemporaryDirectory, list: WatchListSnapshot, plain: OfflineAnalysis.Result, link: LinkType, frames: [CapturedFrame])
    {
        let directory = try TemporaryDirectory()
        let path = try #require(Corpus.root).appendingPathComponent("pcap/\(truth.capture)").path
        let list = try Corpus.watchList(for: truth, in: directory)
        let plain = try OfflineAnalysis.run(paths: [path], watchList: list)
        let (link, frames) = try CaptureFileFrames.read(path)
        return (directory, list, plain, link, frames)
    }

    @Test(arguments: CarrierProfile.all)
    func everyCaptureThroughEveryCarrierFindsTheSame(profile: CarrierProfile) throws {
        try #require(Corpus.isPresent)
        var capturesWithMatches = 0
        for truth in try Corpus.truths() {
            let (directory, list, plain, link, frames) = try Self.plainRun(truth)
            let wrapped = frames.compactMap { frame in
                CarrierBuilder.rewrap(frame.bytes, link: link, in: profile).map { Frame(bytes: $0, timestamp: frame.timestamp) }
            }
            let carried = try OfflineAnalysis.run(paths: [try directory.write("carried.pcap", PcapFileWriter.pcap(wrapped))], watchList: list)
            #expect(Self.findings(carried) == Self.findings(plain), "\(truth.capture) in \(profile.name)")
            #expect(carried.counters.observations == plain.counters.observations, "\(truth.capture) in \(profile.name)")
            #expect(carried.counters.p2pFlows == plain.counters.p2pFlows, "\(truth.capture) in \(profile.name)")
            #expect(carried.matches.allSatisfy { $0.carrier != nil && $0.carrier?.isEmpty == false }, "\(truth.capture) in \(profile.name)")
            #expect(carried.counters.carrierPackets.reduce(0, +) >= carried.counters.decodedPackets, "\(truth.capture) in \(profile.name)")
            if !plain.matches.isEmpty { capturesWithMatches += 1 }
        }
        #expect(capturesWithMatches == ConformanceTests.matchCounts.count)
    }

    /// Every IP packet of every corpus capture cut into fragments of at most 256 bytes, the
    /// fragments of each packet sent last first, read by one worker and by two: the same
    /// findings as the capture itself, every match marked reassembled where its packet was cut.
    @Test(arguments: [1, 2])
    func everyCaptureInFragmentsFindsTheSame(threads: Int) throws {
        try #require(Corpus.isPresent)
        var reassembledMatches = 0, reassembled = 0
        for truth in try Corpus.truths() {
            let (directory, list, plain, link, frames) = try Self.plainRun(truth)
            var cut: [Frame] = []
            for frame in frames {
                guard let packet = CarrierBuilder.ipPacket(of: frame.bytes, link: link) else { continue }
                // Packets already in fragments, or cut by the snaplen, are left as they came.
                let whole = packet[0] >> 4 == 4 ? packet.count >= 20 && packet[6] & 0x3F == 0 && packet[7] == 0
                    && Int(packet[2]) << 8 | Int(packet[3]) == packet.count : packet.count >= 40 && packet[6] != 44 && Int(packet[4]) << 8 | Int(packet[5]) == packet.count - 40
                let pieces = whole && packet.count > 300 ? CarrierBuilder.fragments(of: packet, size: 256, identification: UInt32(cut.count & 0xFFFF)) : [packet]
                for piece in pieces.reversed() { cut.append(Frame(bytes: CarrierBuilder.wrap(ip: piece, in: []), timestamp: frame.timestamp)) }
            }
            let result = try OfflineAnalysis.run(paths: [try directory.write("cut.pcap", PcapFileWriter.pcap(cut))], watchList: list, threads: threads)
            #expect(Self.findings(result) == Self.findings(plain), "\(truth.capture) in fragments, \(threads) workers")
            #expect(result.counters.observations == plain.counters.observations, "\(truth.capture)")
            #expect(result.counters.fragments(.unfinished) == plain.counters.fragments(.unfinished), "\(truth.capture)")
            #expect(result.counters.fragments(.inconsistent) == 0, "\(truth.capture)")
            #expect(result.counters.fragments(.reassembled) >= plain.counters.fragments(.reassembled), "\(truth.capture)")
            reassembled += result.counters.fragments(.reassembled)
            reassembledMatches += result.matches.filter { $0.carrier?.reassembled == true }.count
        }
        print("fragments: \(reassembled) datagrams reassembled, \(reassembledMatches) matches in them")
        #expect(reassembled > 1_000)
        #expect(reassembledMatches > 0)
    }
}
