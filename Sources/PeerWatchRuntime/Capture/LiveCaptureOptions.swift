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
    /// Whether packets are handed over one by one as they arrive. Off: the kernel hands over
    /// a block when it fills or `readTimeoutMilliseconds` after its first packet, which costs far
    /// fewer wake-ups on a busy link.
    public var immediateMode = false
    /// The longest a packet waits in a block that is not full (the kernel's block timeout).
    public var readTimeoutMilliseconds = 100
    /// A BPF filter expression, or `nil` for everything.
    public var filter: String?
    /// The `PACKET_FANOUT` group this handle joins, when several workers share the interface.
    var fanoutGroup: UInt16?

    public init(interface: String) {
        self.interface = interface
    }
}
