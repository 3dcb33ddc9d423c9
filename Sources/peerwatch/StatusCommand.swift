import ArgumentParser
import Foundation

/// `peerwatch status`: the running daemon's metrics, for a person.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a running peerwatch's counters: traffic, drops, flows, alerts, watch lists."
    )

    @Option(name: .customLong("metrics"), help: ArgumentHelp("The daemon's metrics address (HOST:PORT).", valueName: "address"))
    var address: String = "127.0.0.1:9750"

    func run() throws {
        guard let (host, port) = RunCommand.split(address) else { throw ValidationError("--metrics \(address): expected HOST:PORT") }
        guard let text = Self.fetch(host: host, port: port) else {
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
        for (name, title) in [("peerwatch_p2p_flows_total", "p2p flows"), ("peerwatch_alerts_total", "alerts"), ("peerwatch_watchlist_list_entries", "watch lists")] {
            let rows = labelled.filter { $0.0 == name && $0.2 > 0 }.map { "\($0.1) \(String(format: "%.0f", $0.2))" }
            print("\(title.padding(toLength: 12, withPad: " ", startingAt: 0))\(rows.isEmpty ? "none" : rows.joined(separator: ", "))")
        }
        print("records     dropped \(number("peerwatch_records_dropped_total")); watch-list generation \(number("peerwatch_watchlist_generation")), \(number("peerwatch_watchlist_entries_total")) entries")
    }

    /// `GET /metrics` over a plain socket (the endpoint is local).
    static func fetch(host: String, port: UInt16) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 3, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return nil }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET /metrics HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == request.count else { return nil }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while response.count < 64 << 20 {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            response += buffer[0 ..< count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 200"), let body = text.range(of: "\r\n\r\n") else { return nil }
        return String(text[body.upperBound...])
    }
}
