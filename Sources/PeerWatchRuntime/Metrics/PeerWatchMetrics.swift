import Foundation
import PeerWatchCore
import Prometheus
import Synchronization

/// PeerWatch's metrics, in a Prometheus registry: packets, bytes, drops, flows, P2P flows by
/// protocol, alerts by protocol and identifier kind, watch-list entries per list and kind.
///
/// The packet path never touches it: the pipeline publishes the engine's counters about once a
/// second (as deltas into monotonic counters), the output thread counts the alerts it writes,
/// and the watch-list store publishes each snapshot it swaps in.
public final class PeerWatchMetrics: Sendable {
    /// The registry the endpoint exposes.
    public let registry = PrometheusCollectorRegistry()

    private struct Published: Sendable {
        var alerts = 0
        var socketDropped = 0
        var recordsDropped = 0
        var output = AlertOutput.Tally()
        var counters = EngineCounters()
        var capture = CaptureStatistics()
        var watchListGauges: [Gauge] = []
    }

    private let published = Mutex(Published())
    private let packets, bytes, decoded, flows, flowsExpired, flowsEvicted, observations, likelyEncrypted, reassemblyGaps, recordsDropped: Counter
    private let kernelDrops, interfaceDrops, received, socketReaders: Gauge
    private let socketDropped, suppressed, interruptions, logWriteErrors, logReopenFailures: Counter
    private let recordsPending, logWritable, linkUp: Gauge
    private let activeFlows, watchListEntries, watchListGeneration: Gauge
    private let skipped: [Counter]
    private let carrierPackets: [Counter]
    private let fragments: [Counter]
    private let p2pFlows: [Counter]
    private let anomalies: [Counter]

    public init() {
        let r = registry
        packets = Self.counter(r, "peerwatch_packets_total", "Frames read from the capture.")
        bytes = Self.counter(r, "peerwatch_bytes_total", "Wire bytes of the frames read.")
        decoded = Self.counter(r, "peerwatch_packets_decoded_total", "Frames decoded to TCP or UDP.")
        flows = Self.counter(r, "peerwatch_flows_total", "Flows created.")
        flowsExpired = Self.counter(r, "peerwatch_flows_expired_total", "Flows ended by idle timeout.")
        flowsEvicted = Self.counter(r, "peerwatch_flows_evicted_total", "Flows evicted from a full flow table.")
        observations = Self.counter(r, "peerwatch_observations_total", "Content identifiers observed, matching or not.")
        likelyEncrypted = Self.counter(r, "peerwatch_likely_encrypted_bittorrent_flows_total", "TCP flows that opened like an MSE/PE negotiation.")
        reassemblyGaps = Self.counter(r, "peerwatch_reassembly_gaps_total", "TCP reassembly gaps declared.")
        recordsDropped = Self.counter(r, "peerwatch_records_dropped_total", "Alert records dropped because output could not keep up.")
        logWriteErrors = Self.counter(r, "peerwatch_log_write_errors_total", "Failed writes to the alert log (a full disk, say); the records wait and are retried.")
        logReopenFailures = Self.counter(r, "peerwatch_log_reopen_failures_total", "Failed reopens of the alert log after a rotation (records go on into the old file).")
        recordsPending = Self.gauge(r, "peerwatch_records_pending", "Alert records waiting in memory for the log to take them.")
        logWritable = Self.gauge(r, "peerwatch_log_writable", "1 while the alert log takes records, 0 while writes or reopens fail.")
        logWritable.set(to: 1)
        linkUp = Self.gauge(r, "peerwatch_capture_link_up", "1 while the capture interface's link is up, 0 while it is down or absent.")
        linkUp.set(to: 1)
        kernelDrops = Self.gauge(r, "peerwatch_capture_dropped_kernel", "Packets the kernel dropped (libpcap ps_drop).")
        interfaceDrops = Self.gauge(r, "peerwatch_capture_dropped_interface", "Packets the interface dropped (libpcap ps_ifdrop).")
        received = Self.gauge(r, "peerwatch_capture_received", "Packets the kernel received (libpcap ps_recv).")
        interruptions = Self.counter(r, "peerwatch_capture_interruptions_total", "Times the live capture failed (interface down or gone) and was retried.")
        suppressed = Self.counter(r, "peerwatch_alerts_suppressed_total", "Records the alert-volume guard held back (each reported in a suppressed record).")
        socketReaders = Self.gauge(r, "peerwatch_socket_readers", "Readers connected to the alert socket.")
        socketDropped = Self.counter(r, "peerwatch_socket_dropped_lines_total", "Lines alert-socket readers lost by falling behind.")
        activeFlows = Self.gauge(r, "peerwatch_flows_active", "Flows tracked now.")
        watchListEntries = Self.gauge(r, "peerwatch_watchlist_entries_total", "Distinct watch-list entries in the snapshot in use.")
        watchListGeneration = Self.gauge(r, "peerwatch_watchlist_generation", "Watch-list reloads swapped in.")
        skipped = PacketSkipReason.allCases.map {
            Self.counter(r, "peerwatch_packets_skipped_total", labels: [("reason", $0.description)], "Frames not decoded, by reason.")
        }
        carrierPackets = CarrierKind.allCases.map {
            Self.counter(r, "peerwatch_carrier_packets_total", labels: [("carrier", $0.description)], "Decoded packets that came through a carrier (VLAN, MPLS, a tunnel), by carrier.")
        }
        fragments = FragmentOutcome.allCases.map {
            Self.counter(r, "peerwatch_fragments_total", labels: [("outcome", $0.description)], "IP fragments taken and datagrams reassembled or given up, by outcome.")
        }
        anomalies = Anomaly.allCases.map {
            Self.counter(r, "peerwatch_anomalies_total", labels: [("kind", $0.description)], "Odd messages decoders went on past, by kind.")
        }
        p2pFlows = P2PProtocol.allCases.map {
            Self.counter(r, "peerwatch_p2p_flows_total", labels: [("protocol", $0.description)], "Flows recognised as P2P, by protocol.")
        }
    }

    /// Publishes the engine's counters (called about once a second by the capture thread).
    public func update(_ counters: EngineCounters, activeFlows flowCount: Int) {
        published.withLock { state in
            let last = state.counters
            func add(_ counter: Counter, _ now: Int, _ before: Int) { if now > before { counter.increment(by: Int64(now - before)) } }
            add(packets, counters.packets, last.packets)
            add(bytes, counters.bytes, last.bytes)
            add(decoded, counters.decodedPackets, last.decodedPackets)
            add(flows, counters.flowsCreated, last.flowsCreated)
            add(flowsExpired, counters.flowsExpired, last.flowsExpired)
            add(flowsEvicted, counters.flowsEvicted, last.flowsEvicted)
            add(observations, counters.observations, last.observations)
            add(likelyEncrypted, counters.likelyEncryptedBitTorrentFlows, last.likelyEncryptedBitTorrentFlows)
            add(reassemblyGaps, counters.reassemblyGaps, last.reassemblyGaps)
            for index in skipped.indices { add(skipped[index], counters.skipped[index], last.skipped[index]) }
            for index in carrierPackets.indices { add(carrierPackets[index], counters.carrierPackets[index], last.carrierPackets[index]) }
            for index in fragments.indices { add(fragments[index], counters.fragments[index], last.fragments[index]) }
            for index in p2pFlows.indices { add(p2pFlows[index], counters.p2pFlows[index], last.p2pFlows[index]) }
            for index in anomalies.indices { add(anomalies[index], counters.anomalies[index], last.anomalies[index]) }
            state.counters = counters
        }
        activeFlows.set(to: Double(flowCount))
    }

    /// Publishes libpcap's counters.
    public func update(_ capture: CaptureStatistics) {
        published.withLock { $0.capture = capture }
        received.set(to: Double(capture.received))
        kernelDrops.set(to: Double(capture.droppedByKernel))
        interfaceDrops.set(to: Double(capture.droppedByInterface))
    }

    /// Publishes the alert socket's readers and their losses.
    public func update(socketReaders readers: Int, socketDropped dropped: Int) {
        socketReaders.set(to: Double(readers))
        published.withLock { state in
            if dropped > state.socketDropped {
                socketDropped.increment(by: Int64(dropped - state.socketDropped))
                state.socketDropped = dropped
            }
        }
    }

    /// Counts a lost live capture.
    public func captureInterrupted() { interruptions.increment() }

    /// Counts records the alert-volume guard held back.
    public func alertsSuppressed(_ count: Int) {
        if count > 0 { suppressed.increment(by: Int64(count)) }
    }

    /// Publishes how many records the output could not take so far (a running total).
    public func update(recordsDropped total: Int) {
        published.withLock { state in
            if total > state.recordsDropped {
                recordsDropped.increment(by: Int64(total - state.recordsDropped))
                state.recordsDropped = total
            }
        }
    }

    /// Packets, kernel drops and alerts so far, for a status line.
    public func summary() -> (packets: Int, kernelDrops: UInt64, alerts: Int) {
        published.withLock { ($0.counters.packets, $0.capture.droppedByKernel, $0.alerts) }
    }

    /// What the output thread reported last.
    public var output: AlertOutput.Tally { published.withLock { $0.output } }

    /// Publishes the output thread's tally (about once a second, from the output thread).
    public func update(output tally: AlertOutput.Tally) {
        published.withLock { $0.output = tally }
        update(recordsDropped: tally.dropped)
        recordsPending.set(to: Double(tally.pending))
        logWritable.set(to: tally.problem == nil ? 1 : 0)
    }

    /// Publishes the capture interface's link state.
    public func update(linkUp up: Bool) { linkUp.set(to: up ? 1 : 0) }

    /// Counts a failed write to the alert log.
    public func logWriteFailed() { logWriteErrors.increment() }

    /// Counts a failed reopen of the alert log.
    public func logReopenFailed() { logReopenFailures.increment() }

    /// Counts one written alert.
    public func alertWritten(proto: P2PProtocol, kind: ContentID.Kind) {
        published.withLock { $0.alerts += 1 }
        Self.counter(registry, "peerwatch_alerts_total", labels: [("protocol", proto.description), ("id_type", kind.description)], "Match alerts written, by protocol and identifier kind.").increment()
    }

    /// Publishes a watch-list snapshot: entries per list and kind, and each list's SHA-256.
    public func publish(_ snapshot: WatchListSnapshot, generation: Int) {
        published.withLock { state in
            for gauge in state.watchListGauges { registry.unregisterGauge(gauge) }
            var gauges: [Gauge] = []
            for (index, source) in snapshot.sources.enumerated() {
                for (kind, count) in snapshot.loadedCounts[index] {
                    let gauge = Self.gauge(registry, "peerwatch_watchlist_list_entries", labels: [("list", source.name), ("kind", kind.description)], "Entries each list loaded, by kind.")
                    gauge.set(to: Double(count))
                    gauges.append(gauge)
                }
                let info = Self.gauge(registry, "peerwatch_watchlist_info", labels: [("list", source.name), ("format", source.format), ("sha256", source.sha256), ("signer", source.signer ?? "")], "Each list in use, with its SHA-256 (always 1).")
                info.set(to: 1)
                gauges.append(info)
            }
            state.watchListGauges = gauges
        }
        watchListEntries.set(to: Double(snapshot.count))
        watchListGeneration.set(to: Double(generation))
    }

    private static func counter(_ registry: PrometheusCollectorRegistry, _ name: String, labels: [(String, String)] = [], _ help: String) -> Counter {
        registry.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    private static func gauge(_ registry: PrometheusCollectorRegistry, _ name: String, labels: [(String, String)] = [], _ help: String) -> Gauge {
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    /// The exposition text.
    public func exposition() -> String { registry.emitToString() }
}
