import Foundation
import Testing

/// Heap allocations on the packet path, counted by ordo-one's malloc interposer preloaded into
/// `peerwatch-allocations` (tools/allocations): after warm-up, over thousands of flows of each
/// kind, packets of known non-P2P flows and P2P packets that carry no new identifier allocate
/// nothing.
///
/// It runs the release build, the one that ships (a debug build leaves generics unspecialised,
/// and those allocate): `.ci/run` builds it first; elsewhere run
/// `swift build -c release --product peerwatch-allocations` (the test says so when it is missing,
/// and fails under CI).
@Suite struct AllocationTests {
    static let release = CommandRunner.packageRoot.appendingPathComponent(".build/release")

    @Test func theSteadyStatePacketPathAllocatesNothing() throws {
        let probe = Self.release.appendingPathComponent("peerwatch-allocations").path
        let interposer = Self.release.appendingPathComponent("libMallocInterposerSwift.so").path
        let present = FileManager.default.isExecutableFile(atPath: probe) && FileManager.default.fileExists(atPath: interposer)
        if !present {
            let required = ProcessInfo.processInfo.environment["CI"] == "true"
            #expect(!required, "the release allocation probe is missing: swift build -c release --product peerwatch-allocations")
            return
        }
        let result = try CommandRunner.run(probe, [], timeout: 300, environment: ["LD_PRELOAD": interposer])
        #expect(result.status == 0, "\(result.standardError)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any], "\(result.standardOutput)")
        #expect(object["flows"] as? Int == 8_000)
        // 500 peer-wire flows and 1,000 DHT flows, recognised as BitTorrent.
        #expect(object["p2p_flows"] as? Int == 1_500, "\(result.standardOutput)")
        let kinds = ["tls", "quic", "unknown_tcp", "unknown_udp", "bittorrent_peer_wire", "bittorrent_dht"]
        for kind in kinds {
            let figures = try #require(object[kind] as? [String: Any], "no figures for \(kind): \(result.standardOutput)")
            let packets = try #require(figures["packets"] as? Int)
            #expect(packets >= 3_000, "\(kind): \(packets) packets counted")
            #expect(figures["allocations"] as? Int == 0, "\(kind): \(figures)")
            #expect(figures["events"] as? Int == 0, "\(kind): \(figures)")
        }
    }

    /// The counter counts: a probe that allocates on purpose is seen doing so (the interposer is
    /// really preloaded, not silently absent).
    @Test func theCounterSeesAllocations() throws {
        let probe = Self.release.appendingPathComponent("peerwatch-allocations").path
        let interposer = Self.release.appendingPathComponent("libMallocInterposerSwift.so").path
        guard FileManager.default.isExecutableFile(atPath: probe), FileManager.default.fileExists(atPath: interposer) else {
            #expect(ProcessInfo.processInfo.environment["CI"] != "true", "the release allocation probe is missing")
            return
        }
        let result = try CommandRunner.run(probe, ["--self-check"], timeout: 120, environment: ["LD_PRELOAD": interposer])
        #expect(result.status == 0, "\(result.standardError)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any], "\(result.standardOutput)")
        #expect(object["self_check_allocations"] as? Int == 1_000)
    }
}
