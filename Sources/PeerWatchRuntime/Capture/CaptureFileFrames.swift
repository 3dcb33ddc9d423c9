import PeerWatchCore

/// One frame of a capture file, copied out of libpcap's buffer (for tools and tests that
/// rewrite captures; the packet path never copies frames).
public struct CapturedFrame: Sendable {
    /// The captured bytes.
    public var bytes: [UInt8]
    /// The frame's length on the wire.
    public var wireLength: Int
    /// Capture time.
    public var timestamp: Timestamp
}

/// Reads every frame of a pcap or pcapng file through libpcap.
public enum CaptureFileFrames {
    /// The frames of `path` and the link type they were captured on.
    /// - Throws: `CaptureError` for a file libpcap cannot read, or of a link type PeerWatch refuses.
    public static func read(_ path: String) throws(CaptureError) -> (link: LinkType, frames: [CapturedFrame]) {
        let handle = try PcapHandle.openFile(path)
        let link = try handle.linkType(of: path)
        var frames: [CapturedFrame] = []
        while true {
            switch try handle.next() {
            case .packet(let bytes, let wireLength, let timestamp):
                frames.append(CapturedFrame(bytes: Array(bytes), wireLength: wireLength, timestamp: timestamp))
            case .timeout, .endOfFile:
                // A file has no read timeout: either way it has no more packets.
                return (link, frames)
            }
        }
    }
}
