import Foundation
import Testing
import PeerWatchCore
import PeerWatchTestSupport
@testable import PeerWatchRuntime

@Suite struct AlertEncoderTests {
    /// The documented record layout (README, "Alert records"): every key, in order.
    static let matchKeys = ["timestamp", "event_type", "schema_version", "flow_id", "community_id", "sensor", "interface", "proto",
                            "src_ip", "src_port", "dest_ip", "dest_port", "app_proto", "subscriber", "p2p", "watchlist", "chain"]
    static let matchP2PKeys = ["protocol", "message", "role", "direction", "id_type", "id", "context"]
    static let contextKeys = ["client", "peer_id"]
    static let watchlistKeys = ["list", "label", "category", "list_sha256"]
    static let chainKeys = ["seq", "prev", "hash"]
    static let flowEndKeys = ["timestamp", "event_type", "schema_version", "flow_id", "community_id", "sensor", "interface", "proto",
                              "src_ip", "src_port", "dest_ip", "dest_port", "app_proto", "subscriber", "flow", "p2p", "chain"]
    static let flowKeys = ["start", "end", "pkts_toserver", "pkts_toclient", "bytes_toserver", "bytes_toclient", "reason"]

    func events() throws -> [DetectionEvent] {
        let directory = try TemporaryDirectory()
        let capture = try directory.write("one.pcap", PcapFileWriter.pcap(bittorrentFrames(infoHash: listedHash)))
        let list = try directory.write("vics-2026-11.txt", text: "btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126 series \"17\"\\\n")
        let snapshot = try WatchListLoader.load(paths: [list])
        var configuration = EngineConfiguration()
        configuration.homeNetworks = [try #require(IPNetwork("198.51.100.0/24"))]
        return try OfflineAnalysis.run(paths: [capture], watchList: snapshot, configuration: configuration).events
    }

    /// Top-level keys of a JSON object line, in the order they appear.
    func orderedKeys(_ line: [UInt8], object key: String? = nil) throws -> [String] {
        let text = String(decoding: line, as: UTF8.self)
        var scope = Substring(text)
        if let key {
            let marker = "\"\(key)\":{"
            let range = try #require(text.range(of: marker))
            scope = text[range.upperBound...]
        } else {
            scope = scope.dropFirst()
        }
        var keys: [String] = []
        var depth = 0
        var inString = false
        var escaped = false
        var current = ""
        var expectingKey = true
        for character in scope {
            if inString {
                if escaped { escaped = false; current.append(character); continue }
                if character == "\\" { escaped = true; continue }
                if character == "\"" {
                    inString = false
                    if depth == 0, expectingKey { keys.append(current); expectingKey = false }
                    continue
                }
                current.append(character)
                continue
            }
            switch character {
            case "\"": inString = true; current = ""
            case "{", "[": depth += 1
            case "}", "]":
                if depth == 0 { return keys }
                depth -= 1
            case ",": if depth == 0 { expectingKey = true }
            default: break
            }
        }
        return keys
    }

    @Test func matchRecordHasExactlyTheDocumentedFields() throws {
        var encoder = AlertEncoder(sensor: SensorIdentity(name: "edge-1", interface: "eth1"))
        let all = try events()
        let match = try #require(all.first { if case .match = $0 { true } else { false } })
        let line = encoder.encode(match)
        #expect(line.last == 0x0A)
        #expect(try orderedKeys(line) == Self.matchKeys)
        #expect(try orderedKeys(line, object: "p2p") == Self.matchP2PKeys)
        #expect(try orderedKeys(line, object: "context") == Self.contextKeys)
        #expect(try orderedKeys(line, object: "watchlist") == Self.watchlistKeys)
        #expect(try orderedKeys(line, object: "chain") == Self.chainKeys)

        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        #expect(object["event_type"] as? String == "match")
        #expect(object["timestamp"] as? String == "2026-11-18T11:06:40.003000Z")
        #expect(object["sensor"] as? String == "edge-1")
        #expect(object["interface"] as? String == "eth1")
        #expect(object["proto"] as? String == "TCP")
        #expect(object["src_ip"] as? String == "198.51.100.23")
        #expect(object["src_port"] as? Int == 51_413)
        #expect(object["dest_ip"] as? String == "203.0.113.5")
        #expect(object["dest_port"] as? Int == 6_881)
        #expect(object["app_proto"] as? String == "bittorrent")
        #expect(object["subscriber"] as? String == "src")
        #expect((object["community_id"] as? String)?.hasPrefix("1:") == true)
        let p2p = try #require(object["p2p"] as? [String: Any])
        #expect(p2p["protocol"] as? String == "bittorrent")
        #expect(p2p["message"] as? String == "handshake")
        #expect(p2p["role"] as? String == "seeking")
        #expect(p2p["direction"] as? String == "to_server")
        #expect(p2p["id_type"] as? String == "btih")
        #expect(p2p["id"] as? String == "dcfcdccfb9e670ccc3dd40c78c161f2bea243126")
        let context = try #require(p2p["context"] as? [String: Any])
        #expect(context["client"] as? String == "-TR3000-")
        #expect((context["peer_id"] as? String)?.hasPrefix("2d5452333030302d") == true)
        let watchlist = try #require(object["watchlist"] as? [String: Any])
        #expect(watchlist["list"] as? String == "vics-2026-11")
        #expect(watchlist["label"] as? String == "series \"17\"\\")
        #expect(watchlist["category"] is NSNull)
        // sha256sum of the list file's bytes, computed apart from PeerWatch.
        #expect(watchlist["list_sha256"] as? String == "0d20ca01b3fb40b8681796e5f1cdaf5bff870c1d8f15997f6cfe8520d795f461")
        let chain = try #require(object["chain"] as? [String: Any])
        #expect(chain["seq"] as? Int == 1)
        #expect(chain["prev"] as? String == String(repeating: "0", count: 64))
    }

    /// The `carrier` object, after `watchlist`: VLANs, labels and tunnels with their outer
    /// endpoints and ids, in the order the packet met them; absent for plain Ethernet.
    @Test(arguments: [
        ("stack", #"{"vlan":[7,8],"mpls":[1000],"tunnels":[{"type":"gre","src_ip":"192.0.2.1","dest_ip":"192.0.2.2","key":3},{"type":"gre","src_ip":"192.0.2.2","dest_ip":"192.0.2.1"},{"type":"erspan","version":2,"src_ip":"192.0.2.2","dest_ip":"192.0.2.1","session":5},{"type":"vxlan","src_ip":"2001:db8:0:ff::1","dest_ip":"2001:db8:0:ff::2","vni":9}]}"#),
        ("gtpu", #"{"tunnels":[{"type":"gtpu","src_ip":"192.0.2.1","dest_ip":"192.0.2.2","teid":268435457}]}"#),
        ("pppoe", #"{"pppoe_session":4660}"#),
    ])
    func carriedRecordsSayHowThePacketArrived(profile name: String, carrier: String) throws {
        let profile = try #require(CarrierProfile.all.first { $0.name == name })
        let directory = try TemporaryDirectory()
        let frames = bittorrentFrames(infoHash: listedHash).map { frame in
            Frame(bytes: CarrierBuilder.rewrap(frame.bytes, link: .ethernet, in: profile) ?? [], timestamp: frame.timestamp)
        }
        let capture = try directory.write("carried.pcap", PcapFileWriter.pcap(frames))
        let list = try directory.write("list.txt", text: "btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126\n")
        let all = try OfflineAnalysis.run(paths: [capture], watchList: try WatchListLoader.load(paths: [list]), configuration: EngineConfiguration()).events
        var encoder = AlertEncoder(sensor: SensorIdentity(name: "edge-1", interface: "eth1"))
        let lines = all.compactMap { event -> String? in
            switch event {
            case .match, .flowEnd: String(decoding: encoder.encode(event), as: UTF8.self)
            case .likelyEncrypted: nil
            }
        }
        #expect(lines.count == 2)
        for line in lines {
            #expect(line.contains(#","carrier":"# + carrier + #","chain":{"#), "\(line)")
        }
        let plain = try events().compactMap { event -> String? in if case .match = event { String(decoding: encoder.encode(event), as: UTF8.self) } else { nil } }
        #expect(plain.count == 1 && !plain[0].contains("carrier"))
    }

    @Test func flowEndRecordHasExactlyTheDocumentedFields() throws {
        var encoder = AlertEncoder(sensor: SensorIdentity(name: "edge-1", interface: nil))
        let all = try events()
        let end = try #require(all.first { if case .flowEnd = $0 { true } else { false } })
        let line = encoder.encode(end)
        #expect(try orderedKeys(line) == Self.flowEndKeys)
        #expect(try orderedKeys(line, object: "flow") == Self.flowKeys)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
        #expect(object["interface"] is NSNull)
        let flow = try #require(object["flow"] as? [String: Any])
        #expect(flow["pkts_toserver"] as? Int == 5)
        #expect(flow["pkts_toclient"] as? Int == 2)
        #expect(flow["reason"] as? String == "shutdown")
        let p2p = try #require(object["p2p"] as? [String: Any])
        let matches = try #require(p2p["matches"] as? [[String: Any]])
        #expect(matches.count == 1)
        #expect(matches.first?["id"] as? String == "dcfcdccfb9e670ccc3dd40c78c161f2bea243126")
        #expect(matches.first?["sightings"] as? Int == 1)
    }

    @Test func recordsChainAndVerificationFindsEveryTampering() throws {
        var encoder = AlertEncoder(sensor: SensorIdentity(name: "s", interface: nil))
        let all = try events()
        let opening = LogOpening(reason: .start, file: "alerts.json", appended: false, chainFrom: .genesis, version: "t", processID: 1)
        var lines: [[UInt8]] = [encoder.encodeLogOpen(opening, at: Timestamp(microseconds: 0))]
        for _ in 0 ..< 3 { for event in all { lines.append(encoder.encode(event)) } }
        lines.append(encoder.encodeLogClose(reason: .shutdown, records: lines.count - 1, at: Timestamp(microseconds: 0)))
        #expect(encoder.chain.nextSequence == UInt64(lines.count + 1))
        let whole = Data(lines.joined())
        #expect(AlertChainVerifier.verify(whole).records == lines.count)
        #expect(AlertChainVerifier.verify(whole).problems == [])

        var removed = lines
        removed.remove(at: 2)
        #expect(AlertChainVerifier.verify(Data(removed.joined())).problems.first?.line == 3)

        var swapped = lines
        swapped.swapAt(1, 2)
        #expect(AlertChainVerifier.verify(Data(swapped.joined())).problems.first?.line == 2)

        var edited = lines
        let text = String(decoding: edited[3], as: UTF8.self).replacingOccurrences(of: "198.51.100.23", with: "198.51.100.24")
        #expect(Array(text.utf8) != edited[3])
        edited[3] = Array(text.utf8)
        let report = AlertChainVerifier.verify(Data(edited.joined()))
        #expect(report.problems.first?.line == 4)
        #expect(report.problems.first?.message == "record was altered (its hash does not match its bytes)")
    }

    @Test func escapesControlCharactersInText() throws {
        var builder = JSONLineBuilder()
        builder.beginObject()
        builder.field("k", "a\u{01}b\nc\t\"\\")
        builder.endObject()
        #expect(String(decoding: builder.bytes, as: UTF8.self) == #"{"k":"a\u0001b\nc\t\"\\"}"#)
    }
}
