import Foundation
import Testing
@testable import peerwatch

@Suite struct TailCommandTests {
    static let match = #"{"timestamp":"2026-11-18T11:06:40.046600Z","event_type":"match","src_ip":"198.51.100.23","src_port":51413,"dest_ip":"203.0.113.5","dest_port":6881,"p2p":{"protocol":"bittorrent","message":"handshake","role":"seeking","id_type":"btih","id":"dcfcdccfb9e670ccc3dd40c78c161f2bea243126"},"watchlist":{"list":"demo","label":"series A"}}"#
    static let end = #"{"timestamp":"2026-11-18T11:06:41.000000Z","event_type":"flow_end","src_ip":"198.51.100.23","src_port":51413,"dest_ip":"203.0.113.5","dest_port":6881,"flow":{"reason":"timeout","pkts_toserver":9,"pkts_toclient":7},"p2p":{"protocol":"bittorrent","matches":[{"id_type":"btih","id":"dcfc"}]}}"#

    func tail(_ arguments: [String]) throws -> TailCommand { try TailCommand.parse(arguments) }

    @Test func rendersAlignedLinesAndFilters() throws {
        let plain = try tail([])
        let line = try #require(plain.render(Array(Self.match.utf8), colour: false))
        #expect(line.hasPrefix("2026-11-18T11:06:40.046600  MATCH   bittorrent handshake "))
        #expect(line.contains(" 198.51.100.23:51413 -> 203.0.113.5:6881 "))
        #expect(line.hasSuffix(" seeking      btih:dcfcdccfb9e670ccc3dd40c78c161f2bea243126  demo \"series A\""))
        // Columns line up: the endpoints start at the same place for every record.
        let endLine = try #require(plain.render(Array(Self.end.utf8), colour: false))
        #expect(line.range(of: "198.51.100.23")?.lowerBound.utf16Offset(in: line) == endLine.range(of: "198.51.100.23")?.lowerBound.utf16Offset(in: endLine))
        #expect(plain.render(Array(Self.end.utf8), colour: false)?.hasPrefix("2026-11-18T11:06:41.000000  END     bittorrent timeout") == true)
        #expect(plain.render(Array(#"{"event_type":"dropped","count":12}"#.utf8), colour: false)?.contains("12 records lost") == true)
        #expect(plain.render(Array(Self.match.utf8), colour: true)?.contains("\u{1B}[1;31mMATCH") == true)
        #expect(try tail(["--protocol", "utp"]).render(Array(Self.match.utf8), colour: false) == nil)
        #expect(try tail(["--kind", "sha1"]).render(Array(Self.match.utf8), colour: false) == nil)
        #expect(try tail(["--kind", "btih"]).render(Array(Self.end.utf8), colour: false) != nil)
        #expect(try tail(["--json"]).render(Array(Self.match.utf8), colour: false) == Self.match)
        #expect(plain.render(Array("not json".utf8), colour: false) == nil)
    }
}
