import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

@Suite struct DirectConnectTests {
    static let client = Endpoint(address: IPAddress(ipv4: 0xC633_6401), port: 40_000)
    static let hub = Endpoint(address: IPAddress(ipv4: 0xCB00_7102), port: 411)
    static let start = Timestamp(seconds: 1_795_000_000, microseconds: 0)
    static let base32 = "3WMUS6WM2ZC7XIPRQDKXWHHJRV4IKYC4OX4ELCA"
    static let file = id(.tth, Hex.encode(Base32.decode(base32, byteCount: 24) ?? []))
    static let other = id(.tth, Hex.encode(Base32.decode("LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ", byteCount: 24) ?? []))

    func conversation(_ exchanges: [(Bool, String)], segment: Int = 1_448, data: [UInt8] = []) -> [Frame] {
        var tcp = TCPConversation(client: Self.client, server: Self.hub, start: Self.start)
        var frames = tcp.open()
        for (fromClient, text) in exchanges { frames += tcp.send(fromClient: fromClient, Bytes.text(text), segmentSize: segment) }
        return frames + tcp.close()
    }

    @Test(arguments: [1, 7, 1_448])
    func nmdcSearchesResultsAndTransfersMatch(segment: Int) throws {
        let hubSession = conversation([
            (false, "$Lock EXTENDEDPROTOCOL_verlihub Pk=version0.9.8|$HubName test|"),
            (true, "$Key ab|$ValidateNick u|$Search 192.0.2.1:412 F?T?0?9?TTH:\(Self.base32)|"),
            (false, "$SR peer dir\\movie.avi\u{5}734003200 3/4\u{5}TTH:LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ (203.0.113.2:411)\u{5}u|"),
        ], segment: segment)
        let alerts = EngineHarness.matches(runEngine(hubSession, list: [Self.file, Self.other]).events)
        #expect(alerts.map(\.observation.contentID) == [Self.file, Self.other])
        #expect(alerts.map(\.observation.message) == [.directConnect(.search), .directConnect(.searchResult)])
        #expect(alerts.map(\.observation.role) == [.seeking, .offering])
        #expect(alerts.last?.observation.context == .directConnect(DirectConnect.Context(dialect: .nmdc, fileName: "dir\\movie.avi", fileSize: 734_003_200)))
        #expect(alerts.allSatisfy { $0.observation.proto == .directConnect })

        let data = String(repeating: "x", count: 1_000)
        let transfer = conversation([
            (true, "$MyNick a|$Lock EXTENDEDPROTOCOLABCABCABCABCABCABC Pk=DCPLUSPLUS0.868|"),
            (false, "$MyNick b|$Lock EXTENDEDPROTOCOLABCABCABCABCABCABC Pk=DCPLUSPLUS0.868|$Supports ADCGet TTHF|"),
            (true, "$ADCGET file TTH/\(Self.base32) 0 1000|"),
            // The file's bytes follow the answer; they may hold a '|' and are skipped, not read.
            (false, "$ADCSND file TTH/\(Self.base32) 0 1000|" + "|" + data.dropFirst() + "$ADCSND file TTH/LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ 0 0|"),
        ], segment: segment)
        let (events, counters) = runEngine(transfer, list: [Self.file, Self.other])
        let got = EngineHarness.matches(events)
        // One match per identifier and flow: the request names the file first.
        #expect(got.map(\.observation.contentID) == [Self.file, Self.other])
        #expect(got.map(\.observation.message) == [.directConnect(.get), .directConnect(.send)])
        #expect(got.last?.observation.role == .transferring)
        #expect(counters.observations == 3)
        let end = try #require(EngineHarness.flowEnds(events).first)
        guard case .directConnect(let fields) = end.context else { Issue.record("no DC flow_end"); return }
        #expect(fields.fileBytesToClient == 1_000)
        #expect(fields.dialect == .nmdc)
    }

    @Test(arguments: [1, 9, 1_448])
    func adcSearchesResultsAndTransfersMatch(segment: Int) {
        let session = conversation([
            (true, "HSUP ADBASE ADTIGR\n"),
            (false, "ISUP ADBASE ADTIGR\nISID AAAB\n"),
            (true, "BSCH AAAB TR\(Self.base32) TOabc\n"),
            (false, "DRES AAAC AAAB FN/films/a\\sfilm.avi SI12345 SL3 TRLWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ TOabc\n"),
        ], segment: segment)
        let alerts = EngineHarness.matches(runEngine(session, list: [Self.file, Self.other]).events)
        #expect(alerts.map(\.observation.contentID) == [Self.file, Self.other])
        #expect(alerts.last?.observation.context == .directConnect(DirectConnect.Context(dialect: .adc, fileName: "/films/a film.avi", fileSize: 12_345)))
        let transfer = conversation([(true, "CSUP ADBASE ADTIGR\nCGET file TTH/\(Self.base32) 0 -1\n"),
                                     (false, "CSUP ADBASE\nCSND file TTH/LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ 0 5\nab\ncdCINF\n")], segment: segment)
        let got = EngineHarness.matches(runEngine(transfer, list: [Self.file, Self.other]).events)
        #expect(got.map(\.observation.message) == [.directConnect(.get), .directConnect(.send)])
        #expect(got.map(\.observation.contentID) == [Self.file, Self.other])
    }

    @Test func udpResultsMatch() {
        let us = Endpoint(address: IPAddress(ipv4: 0xC633_6401), port: 412), them = Endpoint(address: IPAddress(ipv4: 0xCB00_7102), port: 5_000)
        let frames = [
            Frame(bytes: PacketBuilder.udp(from: them, to: us, payload: Bytes.text("$SR peer a.avi\u{5}10 1/2\u{5}TTH:\(Self.base32) (203.0.113.2:411)|")), timestamp: Self.start),
            Frame(bytes: PacketBuilder.udp(from: them, to: Endpoint(address: us.address, port: 413), payload: Bytes.text("URES ABCD FN/b.avi SI5 TRLWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ\n")),
                  timestamp: Self.start),
        ]
        let alerts = EngineHarness.matches(runEngine(frames, list: [Self.file, Self.other]).events)
        #expect(alerts.map(\.observation.contentID) == [Self.file, Self.other])
        #expect(alerts.allSatisfy { $0.observation.message == .directConnect(.searchResult) && $0.observation.role == .offering })
    }

    @Test func hostileCommandsAreSafe() {
        let cases = [
            "$Lock x|$Search 1:2 F?T?0?9?TTH:SHORT|$SR a b\u{5}|$ADCSND file TTH/\(Self.base32) 0 99999999999999999999999|",
            "$Lock x|$ADCSND file TTH/\(Self.base32) 0 5 ZL1|$Search 1:2 F?T?0?9?TTH:\(Self.base32)|",
            "$Lock x|" + String(repeating: "A", count: 70_000) + "|$Search 1:2 F?T?0?9?TTH:\(Self.base32)|",
            "HSUP ADBASE\nBSCH\nDRES TR\nCGET file\nCSND file TTH/\(Self.base32) 0 -1\n",
        ]
        for text in cases {
            for segment in [1, 1_448] {
                let alerts = EngineHarness.matches(runEngine(conversation([(true, text)], segment: segment), list: [Self.file]).events)
                // Only a transfer answer may name the file before the framing is lost.
                #expect(alerts.allSatisfy { $0.observation.message == .directConnect(.send) }, "\(text.prefix(30))")
            }
        }
    }
}
