import Crypto
import Testing
import PeerWatchTestSupport
@testable import PeerWatchCore

@Suite struct MetadataExchangeTests {
    static let client = Endpoint(address: IPAddress(ipv4: 0xC633_6420), port: 50_001)
    static let server = Endpoint(address: IPAddress(ipv4: 0xCB00_7120), port: 6_881)

    struct Scenario {
        var frames: [Frame]
        var info: [UInt8]
        var v1: ContentID
        var v2: ContentID
    }

    /// A hybrid torrent's connection: handshakes with the v1 infohash, extension handshakes,
    /// the info dictionary in ut_metadata pieces from the server, then two piece messages.
    static func scenario(corruptMetadata: Bool = false, segmentSize: Int = 1_448) -> Scenario {
        var random = SeededGenerator(seed: 21)
        let info = TorrentFixtures.hybridInfo(name: "collection", length: 9_000_000, using: &random).encoded
        let v1 = ContentID(kind: .btih, bytes: Array(Insecure.SHA1.hash(data: info)))!
        let v2 = ContentID(kind: .btihV2, bytes: Array(SHA256.hash(data: info)))!
        var tcp = TCPConversation(client: client, server: server, start: Timestamp(seconds: 1_795_000_000, microseconds: 0))
        var frames = tcp.open()
        frames += tcp.send(fromClient: true, BitTorrentFixtures.handshake(infoHash: v1.digest, peerID: BitTorrentFixtures.peerID(clientTag: "-qB4630-", using: &random))
                           + BitTorrentFixtures.extensionHandshake(utMetadata: 3, client: "qBittorrent/4.6.3"), segmentSize: segmentSize)
        frames += tcp.send(fromClient: false, BitTorrentFixtures.handshake(infoHash: v1.digest, peerID: BitTorrentFixtures.peerID(clientTag: "-TR4050-", using: &random))
                           + BitTorrentFixtures.extensionHandshake(utMetadata: 2, client: "Transmission 4.0.5", metadataSize: info.count), segmentSize: segmentSize)
        var sent = info
        if corruptMetadata { sent[100] ^= 0xFF }
        // The server answers with the id the client asked for (3).
        for message in BitTorrentFixtures.metadataPieces(sent, receiverID: 3) {
            frames += tcp.send(fromClient: false, message, segmentSize: segmentSize)
        }
        frames += tcp.send(fromClient: false, BitTorrentFixtures.piece(index: 0, begin: 0, block: random.bytes(16_384)), segmentSize: segmentSize)
        frames += tcp.send(fromClient: false, BitTorrentFixtures.piece(index: 0, begin: 16_384, block: random.bytes(16_384)), segmentSize: segmentSize)
        frames += tcp.close()
        return Scenario(frames: frames, info: info, v1: v1, v2: v2)
    }

    func run(_ frames: [Frame], list: [ContentID]) -> [DetectionEvent] {
        EngineHarness.run(frames, watchList: EngineHarness.watchList(list))
    }

    @Test(arguments: [1_448, 500, 97])
    func verifiedMetadataRevealsTheListedV2InfoHash(segmentSize: Int) throws {
        let scenario = Self.scenario(segmentSize: segmentSize)
        let events = run(scenario.frames, list: [scenario.v2])
        let matches = events.compactMap { if case .match(let m) = $0 { m } else { nil } }
        try #require(matches.count == 1)
        let match = matches[0]
        #expect(match.hit.entry.id == scenario.v2)
        #expect(match.observation.message == .metadata)
        #expect(match.observation.role == .transferring)
        #expect(match.source == Self.server)
        #expect(match.observation.context.torrent?.name == "collection")
        #expect(match.observation.context.torrent?.totalLength == 9_000_000)
        #expect(match.observation.context.torrent?.infoHashV1 == scenario.v1)
        let flowEnd = try #require(events.compactMap { if case .flowEnd(let f) = $0 { f } else { nil } }.first)
        let end = try #require(flowEnd.bittorrent)
        #expect(end.initiatorClient == "qBittorrent/4.6.3")
        #expect(end.responderClient == "Transmission 4.0.5")
        // Two 16 KiB blocks, each with its 8-byte index and offset.
        #expect(end.pieceBytesToClient == 2 * (16_384 + 8))
        #expect(end.pieceBytesToServer == 0)
        #expect(end.torrent?.name == "collection")
        #expect(end.torrent?.infoHashV2 == scenario.v2)
    }

    @Test func metadataThatDoesNotHashToTheInfoHashIsIgnored() {
        let scenario = Self.scenario(corruptMetadata: true)
        let events = run(scenario.frames, list: [scenario.v2])
        #expect(events.isEmpty)
    }

    @Test func exchangeRefusesOversizedAndOutOfRangePieces() throws {
        let scenario = Self.scenario()
        var exchange = BitTorrent.MetadataExchange(infoHash: scenario.v1)
        var budget = 1_000_000
        let handshake = BencodeValue.dictionary([("m", .dictionary([("ut_metadata", .integer(3))]))]).encoded
        _ = ([0] + handshake).withUnsafeBytes { exchange.handle($0, from: .toServer, budget: &budget) }
        func data(piece: Int64, total: Int64, bytes: Int) -> [UInt8] {
            [3] + BencodeValue.dictionary([("msg_type", .integer(1)), ("piece", .integer(piece)), ("total_size", .integer(total))]).encoded
                + [UInt8](repeating: 1, count: bytes)
        }
        for message in [data(piece: 0, total: Int64(TorrentInfo.maxLength) + 1, bytes: 16_384), data(piece: 5, total: 20_000, bytes: 16_384),
                        data(piece: 0, total: 20_000, bytes: 100), data(piece: -1, total: 20_000, bytes: 16_384)] {
            let result = message.withUnsafeBytes { exchange.handle($0, from: .toClient, budget: &budget) }
            #expect(result == nil)
        }
        #expect(exchange.bytesHeld == 0)
        var small = 10_000
        let refused = data(piece: 0, total: 20_000, bytes: 16_384).withUnsafeBytes { exchange.handle($0, from: .toClient, budget: &small) }
        #expect(refused == nil)
        #expect(small == 10_000)
        #expect(exchange.bytesHeld == 0)
    }

    @Test func framerSkipsOrdinaryMessagesAndStopsOnHostileLengths() {
        var framer = BitTorrent.PeerWireFramer(handshakeRemainder: 20)
        var extended: [[UInt8]] = []
        let stream = [UInt8](repeating: 0x2D, count: 20) + [0, 0, 0, 0] + BitTorrentFixtures.message(id: 2, payload: [])
            + BitTorrentFixtures.piece(index: 1, begin: 0, block: [1, 2, 3]) + BitTorrentFixtures.message(id: 20, payload: [0, 0x64, 0x65])
        for byte in stream { [byte].withUnsafeBytes { framer.consume(.data($0)) { extended.append(Array($0)) } } }
        #expect(extended == [[0, 0x64, 0x65]])
        #expect(framer.messages == 3)
        #expect(framer.pieceBytes == 11)
        [0xFF, 0xFF, 0xFF, 0xFF, 7].withUnsafeBytes { framer.consume(.data($0)) { _ in } }
        #expect(framer.isFinished)
    }
}
