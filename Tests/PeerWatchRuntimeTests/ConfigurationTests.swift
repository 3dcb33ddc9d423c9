import Foundation
import Testing
@testable import PeerWatchRuntime
import PeerWatchCore

@Suite struct ConfigurationTests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("systemd/peerwatch.yaml").path

    func problem(_ text: String) -> ConfigurationError? {
        do {
            _ = try PeerWatchConfiguration.parse(text, file: "peerwatch.yaml")
            return nil
        } catch {
            return error
        }
    }

    @Test func theCommentedExampleLoadsWithEveryValue() throws {
        let configuration = try PeerWatchConfiguration.load(path: Self.example)
        #expect(configuration.sensor == "edge-1")
        #expect(configuration.user == "peerwatch")
        #expect(configuration.interface == "eth1")
        #expect(configuration.bpf == "not port 22")
        #expect(configuration.snaplen == 65_535)
        #expect(configuration.bufferMiB == 64)
        #expect(configuration.promiscuous == true)
        #expect(configuration.homeNetworks == ["198.51.100.0/24", "2001:db8:100::/48"])
        #expect(configuration.watchLists == [
            WatchListSpec(path: "/etc/peerwatch/watchlist.txt"),
            WatchListSpec(path: "/etc/peerwatch/iwf.csv", name: "iwf", format: .csv),
            WatchListSpec(path: "/etc/peerwatch/projectvic.json", format: .vics),
        ])
        #expect(configuration.watchListKeys == nil)
        #expect(configuration.log == "/var/log/peerwatch/alerts.json")
        #expect(configuration.socketPath == "/run/peerwatch/alerts.sock")
        #expect(configuration.socketMode == "0660")
        #expect(configuration.socketGroup == "peerwatch")
        #expect(configuration.socketMaxReaders == 256)
        #expect(configuration.stateDirectory == "/var/lib/peerwatch")
        #expect(configuration.metrics == "127.0.0.1:9750")
        #expect(configuration.maxFlows == 1_048_576)
        #expect(configuration.flowTimeouts == ["tcp": 600, "tcp_closed": 30, "udp": 120])
        #expect(configuration.statisticsInterval == 60)
        #expect(configuration.maxAlertsPerSecond == 1_000)
        #expect(configuration.logLevel == "info")
        #expect(configuration.carriers == CarrierOptions())
        #expect(try PeerWatchConfiguration.parse("", file: "empty.yaml") == PeerWatchConfiguration())
        let carriers = try PeerWatchConfiguration.parse("carriers:\n  vxlan_ports: [4789, 8472]\n  gtpu_ports: [2152]\n  vlan_tracking: false\n", file: "c.yaml").carriers
        #expect(carriers?.vxlanPorts.list == [4789, 8472])
        #expect(carriers?.genevePorts.list == [6081])
        #expect(carriers?.vlanTracking == false)
    }

    @Test(arguments: [
        ("sensor: a\ninterfaces: eth1\n", 2, ConfigurationError.Code.unknownKey, "unknown key \"interfaces\" (known: sensor, capture,"),
        ("capture:\n  interface: eth1\n  snap: 9\n", 3, .unknownKey, "unknown key \"snap\" in capture (known: interface, bpf, snaplen, buffer_mib, promiscuous)"),
        ("capture:\n  snaplen: 10\n", 2, .badValue, "capture.snaplen must be a whole number from 64 to 262144, not \"10\""),
        ("capture:\n  promiscuous: sometimes\n", 2, .badValue, "capture.promiscuous must be true or false"),
        ("home_networks: 198.51.100.0/24\n", 1, .badValue, "home_networks must be a list"),
        ("home_networks:\n  - 198.51.100.0/24\n  - 10.0.0.0/40\n", 3, .badValue, "home_networks: \"10.0.0.0/40\" is not an address block"),
        ("socket:\n  mode: 999\n", 2, .badValue, "socket.mode must be an octal mode"),
        ("metrics: localhost\n", 1, .badValue, "metrics must be HOST:PORT or off"),
        ("log_level: loud\n", 1, .badValue, "log_level must be trace, debug, info"),
        ("watchlists:\n  - name: x\n", 2, .badValue, "a watchlists entry needs a path"),
        ("watchlists:\n  - {path: /a, format: zip}\n", 2, .badValue, "unknown format \"zip\""),
        ("max_flows: -3\n", 1, .badValue, "max_flows must be a whole number from 1"),
        ("capture: [eth1]\n", 1, .badValue, "capture must be a mapping of keys to values"),
        ("carriers:\n  vxlan_port: 4789\n", 2, .unknownKey, "unknown key \"vxlan_port\" in carriers (known: vxlan_ports, geneve_ports, gtpu_ports, vlan_tracking)"),
        ("carriers:\n  gtpu_ports: [2152, 70000]\n", 2, .badValue, "carriers.gtpu_ports must be a whole number from 1 to 65535"),
        ("carriers:\n  geneve_ports: [1, 2, 3, 4, 5]\n", 2, .badValue, "carriers.geneve_ports must be a list of one to 4 UDP ports"),
        ("carriers:\n  vlan_tracking: maybe\n", 2, .badValue, "carriers.vlan_tracking must be true or false"),
        ("sensor: [a\n", 2, .malformedLine, "not valid YAML"),
    ])
    func everyProblemNamesItsLine(text: String, line: Int, code: ConfigurationError.Code, message: String) throws {
        let error = try #require(problem(text))
        #expect(error.file == "peerwatch.yaml")
        #expect(error.line == line)
        #expect(error.code == code)
        #expect(error.message.hasPrefix(message), "\(error.message)")
        #expect(error.description.hasPrefix("peerwatch.yaml:\(line): "))
    }
}
