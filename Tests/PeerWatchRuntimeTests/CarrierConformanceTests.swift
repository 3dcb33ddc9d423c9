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

    @Test(arguments: CarrierProfile.all)
    func everyCaptureThroughEveryCarrierFindsTheSame(profile: CarrierProfile) throws {
        try #require(Corpus.isPresent)
        var capturesWithMatches = 0
        for truth in try Corpus.truths() {
            let directory = try TemporaryDirectory()
            let path = try #require(Corpus.root).appendingPathComponent("pcap/\(truth.capture)").path
            let list = try Corpus.watchList(for: truth, in: directory)
            let plain = try OfflineAnalysis.run(paths: [path], watchList: list)
            let (link, frames) = try CaptureFileFrames.read(path)
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
}
