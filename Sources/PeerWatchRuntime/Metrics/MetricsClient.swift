import Foundation

/// Fetches a PeerWatch metrics endpoint: `GET /metrics` over a plain socket, for `status` and
/// tests (the endpoint is local, so no HTTP client library is needed).
public enum MetricsClient {
    /// The whole HTTP response to `GET path`, or `nil` if nothing answered within `timeout`.
    public static func get(host: String, port: UInt16, path: String = "/metrics", timeout: Int = 3) -> String? {
        let isIPv6 = host.contains(":")
        let fd = socket(isIPv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        let connected: Int32
        if isIPv6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            guard inet_pton(AF_INET6, host, &address.sin6_addr) == 1 else { return nil }
            connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return nil }
            connected = withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(isIPv6 ? "[\(host)]" : host)\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == request.count else { return nil }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while response.count < 64 << 20 {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            response += buffer[0 ..< count]
        }
        return String(decoding: response, as: UTF8.self)
    }

    /// The exposition text of a 200 response, or `nil`.
    public static func metrics(host: String, port: UInt16) -> String? {
        guard let response = get(host: host, port: port), response.hasPrefix("HTTP/1.1 200"),
              let body = response.range(of: "\r\n\r\n") else { return nil }
        return String(response[body.upperBound...])
    }
}
