import Foundation
import Testing
import PeerWatchCore
import PeerWatchTestSupport
@testable import PeerWatchRuntime

@Suite struct CaptureTests {
    func watchList(_ directory: TemporaryDirectory) throws -> WatchListSnapshot {
        try WatchListLoader.load(paths: [try directory.write("list.txt", text: listedLine)])
    }

    @Test(arguments: [LinkType.ethernet, .linuxSLL, .linuxSLL2, .raw, .null, .loop])
    func readsPcapOnEveryLinkType(link: LinkType) throws {
        let directory = try TemporaryDirectory()
        let frames = bittorrentFrames(infoHash: listedHash, link: link)
        let path = try directory.write("c.pcap", PcapFileWriter.pcap(frames, linkType: PacketBuilder.dataLinkType(link)))
        let result = try OfflineAnalysis.run(paths: [path], watchList: try watchList(directory))
        #expect(result.matches.count == 1)
        #expect(result.matches.first?.observation.contentID.hex == "dcfcdccfb9e670ccc3dd40c78c161f2bea243126")
        #expect(result.counters.packets == frames.count)
        #expect(result.counters.decodedPackets == frames.count)
    }

    @Test func readsPcapngAndSeveralFilesInARow() throws {
        let directory = try TemporaryDirectory()
        let first = try directory.write("a.pcapng", PcapFileWriter.pcapng(bittorrentFrames(infoHash: listedHash, clientPort: 40_000)))
        let second = try directory.write("b.pcap", PcapFileWriter.pcap(bittorrentFrames(infoHash: listedHash, clientPort: 40_001, startSecond: 1_795_000_100)))
        let result = try OfflineAnalysis.run(paths: [first, second], watchList: try watchList(directory))
        #expect(result.matches.map(\.source.port) == [40_000, 40_001])
        #expect(result.matches.first?.timestamp == Timestamp(seconds: 1_795_000_000, microseconds: 3_000))
        #expect(result.flowEnds.count == 2)
    }

    @Test func garbageFramesOnEveryLinkTypeAreCountedNotFatal() throws {
        let directory = try TemporaryDirectory()
        var random = SeededGenerator(seed: 42)
        for link in [LinkType.ethernet, .linuxSLL, .linuxSLL2, .raw, .rawIPv4, .rawIPv6, .null, .loop] {
            var frames: [Frame] = []
            for index in 0 ..< 500 {
                frames.append(Frame(bytes: random.bytes(Int(random.next() % 90)), timestamp: Timestamp(microseconds: Int64(index))))
            }
            let path = try directory.write("garbage-\(link).pcap", PcapFileWriter.pcap(frames, linkType: PacketBuilder.dataLinkType(link)))
            let result = try OfflineAnalysis.run(paths: [path], watchList: try watchList(directory))
            #expect(result.counters.packets == 500)
            #expect(result.matches.isEmpty)
        }
    }

    @Test func aCaptureCutMidRecordIsAClearError() throws {
        let directory = try TemporaryDirectory()
        let whole = PcapFileWriter.pcap(bittorrentFrames(infoHash: listedHash))
        let path = try directory.write("cut.pcap", Array(whole.prefix(whole.count - 30)))
        do {
            _ = try OfflineAnalysis.run(paths: [path], watchList: try watchList(directory))
            Issue.record("a cut capture read without error")
        } catch let error as CaptureError {
            #expect(error.message.hasPrefix("\(path): "))
            #expect(error.message.contains("truncated"))
        }
    }

    @Test func aFileThatIsNotACaptureIsRefused() throws {
        let directory = try TemporaryDirectory()
        for (name, bytes) in [("text.pcap", Array("hello, this is not a capture\n".utf8)), ("empty.pcap", []), ("short.pcap", [0xD4, 0xC3, 0xB2])] {
            let path = try directory.write(name, bytes)
            do {
                _ = try OfflineAnalysis.run(paths: [path], watchList: try watchList(directory))
                Issue.record("\(name) was read")
            } catch let error as CaptureError {
                #expect(error.message.hasPrefix("\(path): not a readable pcap or pcapng capture"))
            }
        }
        do {
            _ = try OfflineAnalysis.run(paths: ["\(directory.path)/absent.pcap"], watchList: try watchList(directory))
            Issue.record("a missing file was read")
        } catch let error as CaptureError {
            #expect(error.message.contains("absent.pcap"))
        }
    }

    @Test func unsupportedLinkTypesAreRefusedByName() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("wifi.pcap", PcapFileWriter.pcap([Frame(bytes: [1, 2, 3], timestamp: Timestamp(microseconds: 0))], linkType: 105))
        do {
            _ = try OfflineAnalysis.run(paths: [path], watchList: try watchList(directory))
            Issue.record("802.11 was read")
        } catch let error as CaptureError {
            #expect(error.message == "\(path): link type IEEE802_11 (105) is not supported; PeerWatch reads Ethernet, Linux SLL/SLL2, raw IP and BSD loopback captures")
        }
    }

    @Test func pipelineWritesAndContinuesTheChainedLog() throws {
        let directory = try TemporaryDirectory()
        let capture = try directory.write("c.pcap", PcapFileWriter.pcap(bittorrentFrames(infoHash: listedHash)))
        let log = "\(directory.path)/alerts.json"
        var options = PipelineOptions(source: .files([capture]), sensorName: "test-sensor")
        options.logPath = log
        for _ in 0 ..< 2 {
            let report = try Pipeline(options: options, watchList: try watchList(directory), logger: .init(label: "test")).run(stop: StopSignal())
            #expect(report.recordsWritten == 2)
            #expect(report.counters.matches == 1)
        }
        // Each run: log_open, match, flow_end, log_close.
        let verification = AlertChainVerifier.verify(paths: [log])
        #expect(verification.records == 8)
        #expect(verification.problems == [])
        #expect(try AlertLogFile.open(path: log).lastRecord?.sequence == 8)
        let attributes = try FileManager.default.attributesOfItem(atPath: log)
        #expect((attributes[.posixPermissions] as? Int) == 0o640)
    }

    @Test func aLogWhoseLastLineIsNotARecordIsNotAppendedTo() throws {
        let directory = try TemporaryDirectory()
        let log = try directory.write("alerts.json", text: "someone else's file\n")
        #expect(throws: CaptureError.self) { try AlertLogFile.open(path: log) }
    }
}
