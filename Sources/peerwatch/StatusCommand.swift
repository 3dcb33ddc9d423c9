import ArgumentParser
import Foundation
import PeerWatchRuntime

/// `peerwatch status`: the running daemon's metrics, for a person.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running peerwatch's counters: traffic, drops, flows, alerts, watch lists."
    )

    @Option(name: .customLong("metrics"), help: ArgumentHelp("The daemon's metrics address (HOST:PORT).", valueName: "address"))
    var address: String = "127.0.0.1:9750"

    func run() throws {
        guard let (host, port) = MetricsServer.split(address) else { throw ValidationError("--metrics \(address): expected HOST:PORT") }
        guard let text = MetricsClient.metrics(host: host, port: port) else {
            FileHandle.standardError.write(Data("peerwatch: no metrics at \(address) (is peerwatch run serving --metrics there?)\n".utf8))
            throw ExitCode.failure
        }
        var values: [String: Double] = [:]
        var labelled: [(String, String, Double)] = []
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let value = Double(parts[1]) else { continue }
            let name = String(parts[0])
            if let brace = name.firstIndex(of: "{") {
                labelled.append((String(name[..<brace]), String(name[brace...]), value))
            } else {
                values[name] = value
            }
        }
        func number(_ name: String) -> String { String(format: "%.0f", values[name] ?? 0) }
        print("traffic     \(number("peerwatch_packets_total")) packets, \(number("peerwatch_bytes_total")) bytes; decoded \(number("peerwatch_packets_decoded_total"))")
        print("capture     received \(number("peerwatch_capture_received")), dropped by kernel \(number("peerwatch_capture_dropped_kernel")), by interface \(number("peerwatch_capture_dropped_interface"))")
        print("flows       \(number("peerwatch_flows_active")) active, \(number("peerwatch_flows_total")) seen, \(number("peerwatch_flows_evicted_total")) evicted; likely encrypted BitTorrent \(number("peerwatch_likely_encrypted_bittorrent_flows_total"))")
        for (name, title) in [("peerwatch_carrier_packets_total", "carriers"), ("peerwatch_p2p_flows_total", "p2p flows"), ("peerwatch_alerts_total", "alerts"), ("peerwatch_watchlist_list_entries", "watch lists")] {
            let rows = labelled.filter { $0.0 == name && $0.2 > 0 }.map { "\($0.1) \(String(format: "%.0f", $0.2))" }
            print("\(title.padding(toLength: 12, withPad: " ", startingAt: 0))\(rows.isEmpty ? "none" : rows.joined(separator: ", "))")
        }
        print("records     dropped \(number("peerwatch_records_dropped_total")); watch-list generation \(number("peerwatch_watchlist_generation")), \(number("peerwatch_watchlist_entries_total")) entries")
    }
}
