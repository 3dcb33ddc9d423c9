import Foundation
import Logging
import Synchronization
import Testing
import PeerWatchCore
import PeerWatchTestSupport
@testable import PeerWatchRuntime

@Suite struct WatchListReloadTests {
    static let packets = 30_000

    /// The two infohashes packet `index` carries: one listed only in A, one only in B.
    static func hashes(_ index: Int) -> (a: String, b: String) {
        let a = String(format: "a%039x", index)
        let b = String(format: "b%039x", index)
        return (a, b)
    }

    /// Packet `index`: an LSD announcement on its own flow, naming A_i and B_i.
    static func frame(_ index: Int) -> Frame {
        let (a, b) = hashes(index)
        let source = Endpoint(address: IPAddress(ipv4: 0xC633_6400 | UInt32(index >> 16)), port: UInt16(truncatingIfNeeded: index) | 1)
        let message = "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\nInfohash: \(a)\r\nInfohash: \(b)\r\n\r\n\r\n"
        return Frame(bytes: PacketBuilder.udp(from: source, to: Endpoint(address: IPAddress(ipv4: 0xEFC0_988F), port: 6_771), payload: Array(message.utf8)),
                     timestamp: Timestamp(microseconds: 1_795_000_000_000_000 + Int64(index)))
    }

    /// Every packet of the test, as a capture file.
    static func capture(in directory: TemporaryDirectory) throws -> String {
        try directory.write("lsd.pcap", PcapFileWriter.pcap((0 ..< packets).map(frame)))
    }

    /// List A (or B): every packet's A (or B) infohash, labelled with the list's letter, so that
    /// a match says by its label, not by its identifier, which list version matched it.
    static func list(_ letter: String) -> String {
        (0 ..< packets).map { index -> String in
            let (a, b) = hashes(index)
            return "btih:\(letter == "A" ? a : b) \(letter) packet \(index)"
        }.joined(separator: "\n") + "\n"
    }

    /// The letter a match's identifier names (A or B), and the letter of the list version that
    /// matched it (from its label).
    static func letters(_ match: [String: Any]) -> (id: String, list: String, index: Int)? {
        guard let id = (match["p2p"] as? [String: Any])?["id"] as? String, let label = (match["watchlist"] as? [String: Any])?["label"] as? String,
              let index = Int(id.dropFirst(), radix: 16) else { return nil }
        return (String(id.prefix(1)).uppercased(), String(label.prefix(1)), index)
    }

    /// Reloads happen between packets: with the capture written in three parts and the lists
    /// swapped between them (a snapshot from elsewhere, then a reload from the file), each
    /// packet is matched by exactly the list in force when it came.
    @Test func reloadsTakeEffectBetweenTwoPackets() throws {
        let directory = try TemporaryDirectory()
        let listPath = try directory.write("list.txt", text: Self.list("A"))
        let store = try WatchListStore(specs: [WatchListSpec(path: listPath, name: "live")], logger: Logger(label: "t"))
        let snapshotB = try WatchListLoader.load([WatchListSpec(path: try directory.write("b.txt", text: Self.list("B")), name: "B")])
        let log = directory.path + "/alerts.json"
        let phased = try PhasedPipeline(directory: directory, options: { $0.logPath = log }, watchLists: store)
        let third = Self.packets / 3
        phased.write((0 ..< third).map(Self.frame))
        #expect(waitFor(seconds: 30) { matchRecords(in: log).count == third })
        store.replace(with: snapshotB)
        phased.write((third ..< 2 * third).map(Self.frame))
        #expect(waitFor(seconds: 30) { matchRecords(in: log).count == 2 * third })
        try Data(Self.list("A").utf8).write(to: URL(fileURLWithPath: listPath), options: .atomic)
        #expect(store.reload().isEmpty)
        phased.write((2 * third ..< Self.packets).map(Self.frame))
        let report = try phased.finish()
        #expect(report.counters.packets == Self.packets)
        let matches = matchRecords(in: log).compactMap(Self.letters)
        #expect(matches.count == Self.packets)
        for (id, list, index) in matches {
            let expected = index < third || index >= 2 * third ? "A" : "B"
            #expect(id == expected && list == expected, "packet \(index) matched \(id) from list \(list)")
        }
        #expect(store.generation == 2)
    }

    /// Under swaps as fast as a thread can make them, no packet is ever matched against half a
    /// list or a mixture: each has exactly one match, and the list version that matched agrees
    /// with the identifier it matched.
    @Test func everyPacketMatchesExactlyOneWholeSnapshotUnderConstantSwaps() throws {
        let directory = try TemporaryDirectory()
        let capture = try Self.capture(in: directory)
        let listA = Self.list("A"), listB = Self.list("B")
        let listPath = try directory.write("list.txt", text: listA)
        let logger = Logger(label: "reload-test")
        let store = try WatchListStore(specs: [WatchListSpec(path: listPath, name: "live")], logger: logger)
        let snapshotA = try WatchListLoader.load([WatchListSpec(path: try directory.write("a.txt", text: listA), name: "A")])
        let snapshotB = try WatchListLoader.load([WatchListSpec(path: try directory.write("b.txt", text: listB), name: "B")])

        let done = Atomic<Bool>(false)
        let reloader = Thread {
            var useA = false
            var round = 0
            while !done.load(ordering: .relaxed), round < 200_000 {
                round += 1
                if round % 500 == 0 {
                    // Now and then a real reload from the file, rewritten atomically.
                    try? Data((useA ? listA : listB).utf8).write(to: URL(fileURLWithPath: listPath), options: .atomic)
                    _ = store.reload()
                } else {
                    store.replace(with: useA ? snapshotA : snapshotB)
                }
                useA.toggle()
            }
        }
        reloader.start()
        var options = PipelineOptions(source: .files([capture]), sensorName: "reload-test")
        let log = directory.path + "/alerts.json"
        options.logPath = log
        let report = try Pipeline(options: options, watchLists: store, logger: logger).run(stop: StopSignal())
        done.store(true, ordering: .relaxed)
        #expect(waitFor(seconds: 30) { !reloader.isExecuting })

        #expect(report.counters.packets == Self.packets)
        var perPacket = [Int](repeating: 0, count: Self.packets)
        for (id, list, index) in matchRecords(in: log).compactMap(Self.letters) {
            #expect(id == list, "packet \(index): its \(id) identifier matched from list version \(list)")
            perPacket[index] += 1
        }
        // Exactly one alert per packet: never none (a lost packet or a half list), never two (a mixture).
        #expect(perPacket.allSatisfy { $0 == 1 }, "packets with \(Set(perPacket)) alerts")
    }

    @Test func aFailedReloadKeepsTheSnapshotInUse() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("list.txt", text: "btih:\(String(repeating: "a", count: 40)) first\n")
        let store = try WatchListStore(specs: [WatchListSpec(path: path)], stateDirectory: directory.path + "/state", logger: Logger(label: "t"))
        #expect(store.generation == 0)
        _ = try directory.write("list.txt", text: "btih:\(String(repeating: "b", count: 40)) second\nbtih:nothex\n")
        let problems = store.reload()
        #expect(problems.map(\.line) == [2])
        #expect(store.generation == 0)
        #expect(store.snapshot.lookup(try #require(ContentID(kind: .btih, hex: String(repeating: "a", count: 40)))) != nil)
        _ = try directory.write("list.txt", text: "btih:\(String(repeating: "b", count: 40)) second\n")
        #expect(store.reload().isEmpty)
        #expect(store.generation == 1)
        #expect(store.snapshot.lookup(try #require(ContentID(kind: .btih, hex: String(repeating: "a", count: 40)))) == nil)
        let state = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: directory.path + "/state/watchlist.json"))) as? [String: Any])
        #expect(state["generation"] as? Int == 1)
        #expect(state["entries"] as? Int == 1)
        #expect((state["lists"] as? [[String: Any]])?.first?["name"] as? String == "list")
    }
}
