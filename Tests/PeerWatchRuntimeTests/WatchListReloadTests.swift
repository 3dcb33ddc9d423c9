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

    /// Every packet is an LSD announcement on its own flow, naming A_i and B_i.
    static func capture(in directory: TemporaryDirectory) throws -> String {
        var frames: [Frame] = []
        frames.reserveCapacity(packets)
        for index in 0 ..< packets {
            let (a, b) = hashes(index)
            let source = Endpoint(address: IPAddress(ipv4: 0xC633_6400 | UInt32(index >> 16)), port: UInt16(truncatingIfNeeded: index) | 1)
            let message = "BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\nPort: 6881\r\nInfohash: \(a)\r\nInfohash: \(b)\r\n\r\n\r\n"
            frames.append(Frame(bytes: PacketBuilder.udp(from: source, to: Endpoint(address: IPAddress(ipv4: 0xEFC0_988F), port: 6_771), payload: Array(message.utf8)),
                                timestamp: Timestamp(microseconds: 1_795_000_000_000_000 + Int64(index))))
        }
        return try directory.write("lsd.pcap", PcapFileWriter.pcap(frames))
    }

    static func list(_ letter: String) -> String {
        (0 ..< packets).map { index -> String in
            let (a, b) = hashes(index)
            return "btih:\(letter == "A" ? a : b) packet \(index)"
        }.joined(separator: "\n") + "\n"
    }

    @Test func everyPacketMatchesExactlyOneWholeSnapshotWhileListsAreReloaded() throws {
        let directory = try TemporaryDirectory()
        let capture = try Self.capture(in: directory)
        let listA = Self.list("A"), listB = Self.list("B")
        let listPath = try directory.write("list.txt", text: listA)
        let logger = Logger(label: "reload-test")
        let store = try WatchListStore(specs: [WatchListSpec(path: listPath, name: "live")], logger: logger)
        let snapshotA = try WatchListLoader.load([WatchListSpec(path: try directory.write("a.txt", text: listA), name: "A")])
        let snapshotB = try WatchListLoader.load([WatchListSpec(path: try directory.write("b.txt", text: listB), name: "B")])

        let done = Atomic<Bool>(false)
        let swaps = Atomic<Int>(0)
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
                swaps.add(1, ordering: .relaxed)
                usleep(50)
            }
        }
        reloader.start()
        var options = PipelineOptions(source: .files([capture]), sensorName: "reload-test")
        let log = directory.path + "/alerts.json"
        options.logPath = log
        let report = try Pipeline(options: options, watchLists: store, logger: logger).run(stop: StopSignal())
        done.store(true, ordering: .relaxed)
        while reloader.isExecuting { usleep(1_000) }

        #expect(report.counters.packets == Self.packets)
        #expect(swaps.load(ordering: .relaxed) > 10, "the lists were not swapped during the capture")
        var perPacket = [Int](repeating: 0, count: Self.packets)
        var lists = Set<String>()
        let text = try String(contentsOfFile: log, encoding: .utf8)
        for line in text.split(separator: "\n") where line.contains("\"event_type\":\"match\"") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let id = try #require((object["p2p"] as? [String: Any])?["id"] as? String)
            let list = try #require((object["watchlist"] as? [String: Any])?["list"] as? String)
            let index = try #require(Int(id.dropFirst(), radix: 16))
            // The identifier and the list that matched it agree: A_i only from an A snapshot.
            let fromA = list == "A" || (list == "live" && id.hasPrefix("a"))
            #expect(id.hasPrefix(fromA ? "a" : "b"), "\(id) matched from list \(list)")
            perPacket[index] += 1
            lists.insert(list)
        }
        // Exactly one alert per packet: never none (a lost packet or a half list), never two (a mixture).
        #expect(perPacket.allSatisfy { $0 == 1 }, "packets with \(Set(perPacket)) alerts")
        #expect(lists.count >= 2, "only \(lists) matched: no swap happened mid-capture")
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
