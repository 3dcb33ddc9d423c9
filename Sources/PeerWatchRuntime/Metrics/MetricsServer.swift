import Foundation
import Logging
import Synchronization

/// Serves the metrics in Prometheus text format over HTTP on a local address: `GET /metrics`.
/// One thread, one short request at a time; anything else is answered 404 or 405.
public final class MetricsServer: Sendable {
    /// The port it listens on (useful when asked for port 0).
    public let port: UInt16
    private let socket: Int32
    private let stopped = Atomic<Bool>(false)
    private let metrics: PeerWatchMetrics
    private let logger: Logger

    /// Listens on `host:port` (an IPv4 literal; `127.0.0.1` by default in the CLI).
    /// - Throws: `CaptureError` naming the address when it cannot listen.
    public init(host: String, port: UInt16, metrics: PeerWatchMetrics, logger: Logger) throws(CaptureError) {
        self.metrics = metrics
        self.logger = logger
        let fd = Foundation.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw CaptureError("metrics: cannot create a socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            close(fd)
            throw CaptureError("metrics: \(host) is not an IPv4 address")
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw CaptureError("metrics: cannot listen on \(host):\(port): \(reason)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = UInt16(bigEndian: actual.sin_port)
        socket = fd
        let thread = Thread { [self] in self.serve() }
        thread.name = "peerwatch-metrics"
        thread.start()
    }

    /// Stops serving.
    public func stop() {
        stopped.store(true, ordering: .relaxed)
        shutdown(socket, Int32(SHUT_RDWR))
        close(socket)
    }

    private func serve() {
        while !stopped.load(ordering: .relaxed) {
            let client = accept(socket, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            handle(client)
            close(client)
        }
    }

    private func handle(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8](repeating: 0, count: 4_096)
        let count = read(client, &request, request.count)
        guard count > 0 else { return }
        let line = String(decoding: request[0 ..< count].prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let status: String
        var body: String
        var type = "text/plain; charset=utf-8"
        if parts.count >= 2, parts[0] != "GET" {
            status = "405 Method Not Allowed"
            body = "only GET\n"
        } else if parts.count >= 2, parts[1] == "/metrics" || parts[1].hasPrefix("/metrics?") {
            status = "200 OK"
            body = metrics.exposition()
            type = "text/plain; version=0.0.4; charset=utf-8"
        } else {
            status = "404 Not Found"
            body = "see /metrics\n"
        }
        let response = "HTTP/1.1 \(status)\r\nContent-Type: \(type)\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        let bytes = Array(response.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            if written <= 0 { return }
            offset += written
        }
    }
}
