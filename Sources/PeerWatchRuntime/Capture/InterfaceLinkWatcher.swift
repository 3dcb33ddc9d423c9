import Foundation
import Logging

/// Watches a capture interface's link state (`/sys/class/net/IF/operstate`) and logs each change:
/// a span port whose cable is pulled keeps its capture handle open and simply goes quiet, and
/// the operator must be told why nothing arrives.
struct InterfaceLinkWatcher {
    let interface: String
    private var last: String?

    init(interface: String) {
        self.interface = interface
        last = Self.operationalState(of: interface)
    }

    /// The kernel's operational state of `interface` (`up`, `down`, `lowerlayerdown`, ...), or
    /// `nil` when it does not exist.
    static func operationalState(of interface: String) -> String? {
        guard !interface.contains("/"), let text = try? String(contentsOfFile: "/sys/class/net/\(interface)/operstate", encoding: .utf8) else {
            return nil
        }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Logs a change since the last check.
    mutating func check(logger: Logger, metrics: PeerWatchMetrics?) {
        let now = Self.operationalState(of: interface)
        guard now != last else { return }
        defer { last = now }
        let state = now ?? "absent"
        metrics?.update(linkUp: now == "up" || now == "unknown")
        if now == "up" {
            logger.notice("interface link up", metadata: ["capture.interface": "\(interface)", "link.was": "\(last ?? "absent")"])
        } else {
            logger.warning("interface link not up: no packets will arrive", metadata: [
                "capture.interface": "\(interface)", "link.state": "\(state)", "link.was": "\(last ?? "absent")",
            ])
        }
    }
}
