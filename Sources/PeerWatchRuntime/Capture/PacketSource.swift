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
            let handle = try PcapHandle.openLive(options)
            guard let link = LinkType(dlt: handle.dataLinkType) else {
                throw CaptureError("\(options.interface): link type \(handle.dataLinkName) (\(handle.dataLinkType)) is not supported")
            }
            onOpen(handle.dataLinkName)
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
}
