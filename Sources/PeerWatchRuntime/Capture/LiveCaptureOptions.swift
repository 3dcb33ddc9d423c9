/// How to open a live capture.
public struct LiveCaptureOptions: Sendable, Equatable {
    /// The interface to capture on.
    public var interface: String
    /// Bytes kept of each packet. The default keeps whole frames, up to jumbo size.
    public var snapshotLength = 65_535
    /// The kernel buffer size in bytes; large enough to ride out bursts at 10 Gbit/s.
    public var bufferSize = 64 * 1024 * 1024
    /// Whether to put the interface in promiscuous mode (a span port needs it).
    public var promiscuous = true
    /// Whether packets are handed over as they arrive, not when a buffer block fills.
    public var immediateMode = true
    /// How long a read waits before returning empty, so shutdown requests are seen promptly.
    public var readTimeoutMilliseconds = 100
    /// A BPF filter expression, or `nil` for everything.
    public var filter: String?

    public init(interface: String) {
        self.interface = interface
    }
}
