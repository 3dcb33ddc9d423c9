import ArgumentParser
import Foundation
import PeerWatchRuntime

/// `peerwatch tail`: follows the alert socket of a running peerwatch.
struct TailCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tail",
        abstract: "Follow a running peerwatch's alerts from its socket, as aligned lines or raw JSON.",
        discussion: "Reconnects when the daemon restarts; stop with Ctrl-C."
    )

    @Option(name: .customLong("socket"), help: ArgumentHelp("The daemon's --socket.", valueName: "path"))
    var path: String = "/run/peerwatch/alerts.sock"

    @Flag(name: .customLong("json"), help: "Pass the records through as JSON lines.")
    var json = false

    @Option(name: .customLong("protocol"), help: ArgumentHelp("Only this protocol (bittorrent, utp, bittorrent-dht, http, ...).", valueName: "name"))
    var proto: String?

    @Option(name: .customLong("kind"), help: ArgumentHelp("Only this identifier kind (btih, btih-v2, sha1, ed2k, tth, md5, bt-piece).", valueName: "kind"))
    var kind: String?

    @Option(name: .customLong("max-records"), help: ArgumentHelp("Stop after this many records (for scripts).", valueName: "count"))
    var maxRecords: Int?

    func run() throws {
        let colour = isatty(STDOUT_FILENO) == 1 && !json
        var shown = 0
        var announcedWait = false
        while true {
            guard let fd = Self.connect(path) else {
                if !announcedWait {
                    FileHandle.standardError.write(Data("peerwatch: waiting for \(path) ...\n".utf8))
                    announcedWait = true
                }
                sleep(1)
                continue
            }
            announcedWait = false
            var pending = [UInt8]()
            var buffer = [UInt8](repeating: 0, count: 65_536)
            reading: while true {
                let count = read(fd, &buffer, buffer.count)
                if count <= 0 { break reading }
                pending += buffer[0 ..< count]
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = Array(pending[..<newline])
                    pending.removeSubrange(...newline)
                    guard let text = render(line, colour: colour) else { continue }
                    FileHandle.standardOutput.write(Data((text + "\n").utf8))
                    shown += 1
                    if let maxRecords, shown >= maxRecords {
                        close(fd)
                        return
                    }
                }
            }
            close(fd)
            FileHandle.standardError.write(Data("peerwatch: \(path) closed; reconnecting\n".utf8))
            sleep(1)
        }
    }

    /// One record as a line, or `nil` when the filters leave it out.
    func render(_ line: [UInt8], colour: Bool) -> String? {
        guard let record = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] else { return nil }
        let type = record["event_type"] as? String ?? "?"
        let p2p = record["p2p"] as? [String: Any] ?? [:]
        if let proto, type != "dropped", (p2p["protocol"] as? String) != proto { return nil }
        if let kind, type == "match", (p2p["id_type"] as? String) != kind { return nil }
        if let kind, type == "flow_end",
           !((p2p["matches"] as? [[String: Any]]) ?? []).contains(where: { ($0["id_type"] as? String) == kind }) { return nil }
        if json { return String(decoding: line, as: UTF8.self) }
        func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text : text + String(repeating: " ", count: width - text.count) }
        func paint(_ text: String, _ code: String) -> String { colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text }
        let time = (record["timestamp"] as? String).map { String($0.prefix(26)) } ?? pad("", 26)
        let endpoints = "\(record["src_ip"] ?? "?"):\(record["src_port"] ?? "?") -> \(record["dest_ip"] ?? "?"):\(record["dest_port"] ?? "?")"
        switch type {
        case "match":
            let list = record["watchlist"] as? [String: Any] ?? [:]
            let label = (list["label"] as? String).map { " \"\($0)\"" } ?? ""
            return "\(time)  \(paint(pad("MATCH", 8), "1;31"))\(pad("\(p2p["protocol"] ?? "?") \(p2p["message"] ?? "?")", 30)) \(pad(endpoints, 47)) "
                + "\(pad("\(p2p["role"] ?? "?")", 12)) \(p2p["id_type"] ?? "?"):\(p2p["id"] ?? "?")  \(list["list"] ?? "?")\(label)"
        case "flow_end":
            let flow = record["flow"] as? [String: Any] ?? [:]
            let ids = ((p2p["matches"] as? [[String: Any]]) ?? []).map { "\($0["id_type"] ?? "?"):\($0["id"] ?? "?")" }.joined(separator: " ")
            return "\(time)  \(paint(pad("END", 8), "33"))\(pad("\(p2p["protocol"] ?? "?") \(flow["reason"] ?? "?")", 30)) \(pad(endpoints, 47)) "
                + "\(pad("\(flow["pkts_toserver"] ?? 0)/\(flow["pkts_toclient"] ?? 0) pkts", 12)) \(ids)"
        case "dropped":
            return "\(pad("", 26))  \(paint(pad("DROPPED", 8), "1;35"))\(record["count"] ?? "?") records lost: this reader fell behind"
        default:
            return String(decoding: line, as: UTF8.self)
        }
    }

    static func connect(_ path: String) -> Int32? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in for (index, byte) in bytes.enumerated() { raw[index] = byte } }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        return fd
    }
}
