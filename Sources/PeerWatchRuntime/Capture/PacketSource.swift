import Foundation
import PeerWatchCore

/// Where packets come from: capture files read in a row, or a live interface.
public enum PacketSource: Sendable {
    /// pcap or pcapng files, read one after another.
    case files([String])
    /// A live capture.
    case live(LiveCaptureOptions)

    /// The interface name for alert records, or `nil` for files.
    public var interfaceName: String? {
        if case .live(let options) = self { return options.interface }
        return nil
    }
}

/// Reads packets from a source and hands each, borrowed, to a consumer on the calling thread.
struct CaptureLoop {
    let source: PacketSource
    let stop: StopSignal?

    /// Statistics of the live handle, read just before it closed.
    private(set) var finalStatistics: CaptureStatistics?

    init(source: PacketSource, stop: StopSignal?) {
        self.source = source
        self.stop = stop
    }

    private func shouldStop() -> Bool { stop?.isRequested ?? false }

    /// Opens every file first, so that a bad file is reported before anything is read.
    static func validate(files: [String]) throws(CaptureError) {
        for path in files {
            let handle = try PcapHandle.openFile(path)
            guard LinkType(dlt: handle.dataLinkType) != nil else {
                throw CaptureError("\(path): link type \(handle.dataLinkName) (\(handle.dataLinkType)) is not supported; PeerWatch reads Ethernet, Linux SLL/SLL2, raw IP and BSD loopback captures")
            }
        }
    }

    /// Runs until the source ends or `shouldStop` says so.
    /// - Parameter onOpen: called once a live capture is open (for readiness), with the handle's link name.
    mutating func run(
        onOpen: (String) -> Void = { _ in },
        onIdle: () -> Void = {},
        onStatistics: (CaptureStatistics) -> Void = { _ in },
        onLost: (CaptureError, Duration) -> Void = { _, _ in },
        onRestored: () -> Void = {},
        consume: (UnsafeRawBufferPointer, Int, Timestamp, LinkType) -> Void
    ) throws(CaptureError) {
        switch source {
        case .files(let paths):
            for path in paths {
                let handle = try PcapHandle.openFile(path)
                guard let link = LinkType(dlt: handle.dataLinkType) else {
                    throw CaptureError("\(path): link type \(handle.dataLinkName) (\(handle.dataLinkType)) is not supported; PeerWatch reads Ethernet, Linux SLL/SLL2, raw IP and BSD loopback captures")
                }
                onOpen(handle.dataLinkName)
                reading: while !shouldStop() {
                    switch try handle.next() {
                    case .packet(let bytes, let wireLength, let timestamp):
                        consume(bytes, wireLength, timestamp, link)
                    case .timeout:
                        continue
                    case .endOfFile:
                        break reading
                    }
                }
            }
        case .live(let options):
            // The first open must succeed: a wrong interface name is a clear, fatal error. Later,
            // a capture that fails (interface down or gone) is reopened with backoff.
            var handle = try PcapHandle.openLive(options)
            guard LinkType(dlt: handle.dataLinkType) != nil else {
                throw CaptureError("\(options.interface): link type \(handle.dataLinkName) (\(handle.dataLinkType)) is not supported")
            }
            onOpen(handle.dataLinkName)
            var backoff = Self.firstRetry
            while !shouldStop() {
                do {
                    try readLive(handle, options: options, onIdle: onIdle, onStatistics: onStatistics, consume: consume)
                    return
                } catch {
                    onLost(error, backoff)
                }
                // Reopen until it works or a stop is requested, waiting longer each time.
                var reopened: PcapHandle?
                while reopened == nil, !shouldStop() {
                    let deadline = ContinuousClock.now + backoff
                    while ContinuousClock.now < deadline, !shouldStop() {
                        onIdle()
                        Thread.sleep(forTimeInterval: 0.1)
                    }
                    if shouldStop() { return }
                    do throws(CaptureError) {
                        let candidate = try PcapHandle.openLive(options)
                        guard LinkType(dlt: candidate.dataLinkType) != nil else {
                            throw CaptureError("\(options.interface): link type \(candidate.dataLinkName) is not supported")
                        }
                        reopened = .some(consume candidate)
                    } catch {
                        backoff = min(backoff * 2, Self.maxRetry)
                        onLost(error, backoff)
                    }
                }
                if let candidate = reopened.take() {
                    handle = candidate
                    backoff = Self.firstRetry
                    onRestored()
                }
            }
        }
    }

    /// The first wait before reopening a lost capture, and the longest.
    static let firstRetry: Duration = .seconds(1)
    static let maxRetry: Duration = .seconds(30)

    /// Reads a live handle until a stop is requested (returns) or it fails (throws).
    private mutating func readLive(
        _ handle: borrowing PcapHandle, options: LiveCaptureOptions, onIdle: () -> Void,
        onStatistics: (CaptureStatistics) -> Void, consume: (UnsafeRawBufferPointer, Int, Timestamp, LinkType) -> Void
    ) throws(CaptureError) {
        guard let link = LinkType(dlt: handle.dataLinkType) else { return }
        let breaker = handle.breaker
        let token = stop?.addWaker { breaker.breakLoop() }
        defer {
            if let token { stop?.removeWaker(token) }
            finalStatistics = handle.statistics()
        }
        // libpcap's counters, read on this thread about once a second.
        var lastStatistics = ContinuousClock.now
        var packets = 0
        func reportStatistics() {
            let now = ContinuousClock.now
            guard now - lastStatistics >= .seconds(1) else { return }
            lastStatistics = now
            if let statistics = handle.statistics() { onStatistics(statistics) }
        }
        while !shouldStop() {
            switch try handle.next() {
            case .packet(let bytes, let wireLength, let timestamp):
                consume(bytes, wireLength, timestamp, link)
                packets &+= 1
                if packets & 4_095 == 0 { reportStatistics() }
            case .timeout:
                onIdle()
                reportStatistics()
            case .endOfFile:
                return
            }
        }
    }
}
