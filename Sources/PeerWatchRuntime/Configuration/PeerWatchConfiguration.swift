import Foundation
import PeerWatchCore
import Yams

/// What a configuration file says: every option `peerwatch run` has. Absent keys are `nil`;
/// the command line overrides what is set here, and built-in defaults fill the rest.
///
/// ```yaml
/// sensor: edge-1
/// capture: {interface: eth1, bpf: "not port 22", snaplen: 65535, buffer_mib: 64, promiscuous: true}
/// home_networks: [198.51.100.0/24]
/// watchlists: [/etc/peerwatch/ncmec.txt, {name: iwf, format: csv, path: /etc/peerwatch/iwf.csv}]
/// ```
public struct PeerWatchConfiguration: Sendable, Equatable {
    public var sensor: String?
    public var interface: String?
    public var bpf: String?
    public var snaplen: Int?
    public var bufferMiB: Int?
    public var promiscuous: Bool?
    public var homeNetworks: [String]?
    public var watchLists: [WatchListSpec]?
    public var watchListKeys: [String]?
    public var log: String?
    public var socketPath: String?
    public var socketMode: String?
    public var socketGroup: String?
    public var socketMaxReaders: Int?
    public var stateDirectory: String?
    public var metrics: String?
    public var maxFlows: Int?
    /// Worker threads (`threads`; default: the number of cores).
    public var threads: Int?
    /// The most worker threads a sensor runs.
    public static let maxThreads = 64
    /// Idle seconds before flows expire, by kind (`flow_timeouts`: `tcp`, `tcp_closed`, `udp`).
    public var flowTimeouts: [String: Int] = [:]
    /// Seconds between statistics lines in the log (`stats_interval`).
    public var statisticsInterval: Int?
    public var maxAlertsPerSecond: Int?
    public var logLevel: String?
    /// The user to become when started as root.
    public var user: String?
    /// Tunnel ports and VLAN tracking (`carriers`: `vxlan_ports`, `geneve_ports`, `gtpu_ports`,
    /// `vlan_tracking`), over the defaults.
    public var carriers: CarrierOptions?

    public init() {}

    /// Reads and checks `path`.
    /// - Throws: `ConfigurationError` naming the file, the line and the key or value at fault.
    public static func load(path: String) throws(ConfigurationError) -> PeerWatchConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(code: .unreadable, file: path, line: nil, message: "cannot read the configuration file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigurationError(code: .badEncoding, file: path, line: nil, message: "the configuration is not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    static let topKeys = ["sensor", "capture", "home_networks", "watchlists", "watchlist_keys", "log", "socket", "state_dir", "metrics",
                          "max_flows", "threads", "flow_timeouts", "stats_interval", "max_alerts_per_second", "log_level", "user", "carriers"]
    /// The flow kinds whose idle timeouts can be set.
    public static let flowTimeoutKeys = ["tcp", "tcp_closed", "udp"]
    static let captureKeys = ["interface", "bpf", "snaplen", "buffer_mib", "promiscuous"]
    static let socketKeys = ["path", "mode", "group", "max_readers"]
    static let watchListKeys = ["path", "name", "format"]
    static let carrierKeys = ["vxlan_ports", "geneve_ports", "gtpu_ports", "vlan_tracking"]

    /// Parses configuration text.
    public static func parse(_ text: String, file: String) throws(ConfigurationError) -> PeerWatchConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigurationError(code: .malformedLine, file: file, line: Self.line(of: error), message: "not valid YAML: \(Self.problem(of: error))")
        } catch {
            throw ConfigurationError(code: .malformedLine, file: file, line: nil, message: "not valid YAML: \(error)")
        }
        var configuration = PeerWatchConfiguration()
        guard let root else { return configuration }
        let top = try mapping(root, "the configuration", file: file)
        for (key, value) in top {
            let name = try keyName(key, allowed: topKeys, section: nil, file: file)
            switch name {
            case "sensor": configuration.sensor = try string(value, name, file: file)
            case "user": configuration.user = try string(value, name, file: file)
            case "log": configuration.log = try string(value, name, file: file)
            case "state_dir": configuration.stateDirectory = try string(value, name, file: file)
            case "metrics":
                let address = try string(value, name, file: file)
                guard address == "off" || address.split(separator: ":").count == 2 && UInt16(address.split(separator: ":")[1]) != nil else {
                    throw bad(value, "metrics must be HOST:PORT or off, not \"\(address)\"", file: file)
                }
                configuration.metrics = address
            case "log_level":
                let level = try string(value, name, file: file)
                guard ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(level) else {
                    throw bad(value, "log_level must be trace, debug, info, notice, warning, error or critical", file: file)
                }
                configuration.logLevel = level
            case "max_flows": configuration.maxFlows = try integer(value, name, in: 1 ... 100_000_000, file: file)
            case "threads": configuration.threads = try integer(value, name, in: 1 ... maxThreads, file: file)
            case "stats_interval": configuration.statisticsInterval = try integer(value, name, in: 1 ... 86_400, file: file)
            case "flow_timeouts":
                for (key, value) in try mapping(value, name, file: file) {
                    let field = try keyName(key, allowed: flowTimeoutKeys, section: name, file: file)
                    configuration.flowTimeouts[field] = try integer(value, "flow_timeouts.\(field)", in: 1 ... 86_400, file: file)
                }
            case "max_alerts_per_second": configuration.maxAlertsPerSecond = try integer(value, name, in: 0 ... 10_000_000, file: file)
            case "home_networks":
                let blocks = try strings(value, name, file: file)
                for (index, block) in blocks.enumerated() where IPNetwork(block) == nil {
                    throw bad(value.sequence?[index] ?? value, "home_networks: \"\(block)\" is not an address block such as 192.0.2.0/24", file: file)
                }
                configuration.homeNetworks = blocks
            case "watchlist_keys": configuration.watchListKeys = try strings(value, name, file: file)
            case "watchlists": configuration.watchLists = try watchLists(value, file: file)
            case "carriers":
                var options = CarrierOptions()
                for (key, value) in try mapping(value, name, file: file) {
                    let field = try keyName(key, allowed: carrierKeys, section: name, file: file)
                    if field == "vlan_tracking" {
                        guard let flag = value.bool else { throw bad(value, "carriers.vlan_tracking must be true or false", file: file) }
                        options.vlanTracking = flag
                        continue
                    }
                    guard let items = value.sequence, !items.isEmpty, items.count <= PortSet.capacity else {
                        throw bad(value, "carriers.\(field) must be a list of one to \(PortSet.capacity) UDP ports", file: file)
                    }
                    var ports: [UInt16] = []
                    for item in items { ports.append(UInt16(try integer(item, "carriers.\(field)", in: 1 ... 65_535, file: file))) }
                    switch field {
                    case "vxlan_ports": options.vxlanPorts = PortSet(ports)
                    case "geneve_ports": options.genevePorts = PortSet(ports)
                    default: options.gtpuPorts = PortSet(ports)
                    }
                }
                configuration.carriers = options
            case "capture":
                for (key, value) in try mapping(value, name, file: file) {
                    let field = try keyName(key, allowed: captureKeys, section: name, file: file)
                    switch field {
                    case "interface": configuration.interface = try string(value, "capture.interface", file: file)
                    case "bpf": configuration.bpf = try string(value, "capture.bpf", file: file)
                    case "snaplen": configuration.snaplen = try integer(value, "capture.snaplen", in: 64 ... 262_144, file: file)
                    case "buffer_mib": configuration.bufferMiB = try integer(value, "capture.buffer_mib", in: 1 ... 4_096, file: file)
                    default:
                        guard let flag = value.bool else { throw bad(value, "capture.promiscuous must be true or false", file: file) }
                        configuration.promiscuous = flag
                    }
                }
            default:
                for (key, value) in try mapping(value, name, file: file) {
                    let field = try keyName(key, allowed: socketKeys, section: name, file: file)
                    switch field {
                    case "path": configuration.socketPath = try string(value, "socket.path", file: file)
                    case "mode":
                        let mode = try string(value, "socket.mode", file: file)
                        guard let parsed = mode_t(mode, radix: 8), parsed <= 0o777 else { throw bad(value, "socket.mode must be an octal mode such as \"0660\"", file: file) }
                        configuration.socketMode = mode
                    case "max_readers": configuration.socketMaxReaders = try integer(value, "socket.max_readers", in: 1 ... 100_000, file: file)
                    default: configuration.socketGroup = try string(value, "socket.group", file: file)
                    }
                }
            }
        }
        return configuration
    }

    // MARK: - Values

    private static func watchLists(_ node: Node, file: String) throws(ConfigurationError) -> [WatchListSpec] {
        guard let items = node.sequence else { throw bad(node, "watchlists must be a list", file: file) }
        var specs: [WatchListSpec] = []
        for item in items {
            if let text = item.scalar?.string, item.mapping == nil {
                specs.append(WatchListSpec(parsing: text))
                continue
            }
            var path: String?, name: String?, format: WatchListFormat?
            for (key, value) in try mapping(item, "a watchlists entry", file: file) {
                switch try keyName(key, allowed: watchListKeys, section: "watchlists", file: file) {
                case "path": path = try string(value, "watchlists.path", file: file)
                case "name": name = try string(value, "watchlists.name", file: file)
                default:
                    let text = try string(value, "watchlists.format", file: file)
                    guard let known = WatchListFormat(rawValue: text) else {
                        throw bad(value, "unknown format \"\(text)\" (known: \(WatchListFormat.allCases.map(\.rawValue).joined(separator: ", ")))", file: file)
                    }
                    format = known
                }
            }
            guard let path else { throw bad(item, "a watchlists entry needs a path", file: file) }
            specs.append(WatchListSpec(path: path, name: name, format: format))
        }
        return specs
    }

    private static func mapping(_ node: Node, _ what: String, file: String) throws(ConfigurationError) -> Node.Mapping {
        guard let mapping = node.mapping else { throw bad(node, "\(what) must be a mapping of keys to values", file: file) }
        return mapping
    }

    private static func keyName(_ key: Node, allowed: [String], section: String?, file: String) throws(ConfigurationError) -> String {
        let name = key.string ?? ""
        guard allowed.contains(name) else {
            let place = section.map { " in \($0)" } ?? ""
            throw ConfigurationError(code: .unknownKey, file: file, line: key.mark?.line,
                                     message: "unknown key \"\(name)\"\(place) (known: \(allowed.joined(separator: ", ")))")
        }
        return name
    }

    private static func string(_ node: Node, _ name: String, file: String) throws(ConfigurationError) -> String {
        guard let scalar = node.scalar, !scalar.string.isEmpty else { throw bad(node, "\(name) must be a non-empty string", file: file) }
        return scalar.string
    }

    private static func strings(_ node: Node, _ name: String, file: String) throws(ConfigurationError) -> [String] {
        guard let items = node.sequence else { throw bad(node, "\(name) must be a list", file: file) }
        var out: [String] = []
        for item in items { out.append(try string(item, name, file: file)) }
        return out
    }

    private static func integer(_ node: Node, _ name: String, in range: ClosedRange<Int>, file: String) throws(ConfigurationError) -> Int {
        guard let value = node.int, range.contains(value) else {
            throw bad(node, "\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound), not \"\(node.scalar?.string ?? "a \(node)")\"", file: file)
        }
        return value
    }

    private static func bad(_ node: Node, _ message: String, file: String) -> ConfigurationError {
        ConfigurationError(code: .badValue, file: file, line: node.mark?.line, message: message)
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _): mark.line
        default: nil
        }
    }

    private static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _): problem
        default: "\(error)"
        }
    }
}
