import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// Serves the metrics in Prometheus text format over HTTP on a local address: `GET /metrics`.
///
/// SwiftNIO's HTTP/1 server: any number of clients at once, each request read whole by NIO's
/// parser, idle connections closed after `idleTimeout`; anything but GET is answered 405, any
/// other path 404. IPv4 or IPv6 (`[::1]:9750`).
public final class MetricsServer: Sendable {
    /// The port it listens on (useful when asked for port 0).
    public let port: UInt16
    private let channel: any Channel

    /// Connections that send nothing for this long are closed.
    public static let idleTimeout: TimeAmount = .seconds(30)

    /// Listens on `host:port`.
    /// - Throws: `CaptureError` naming the address when it cannot listen.
    public init(
        host: String, port: UInt16, metrics: PeerWatchMetrics, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) throws(CaptureError) {
        let bootstrap = ServerBootstrap(group: eventLoopGroup)
            .serverChannelOption(.backlog, value: 128)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(AcceptBackoffHandler()) }
            }
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(IdleStateHandler(readTimeout: Self.idleTimeout))
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(metrics: metrics))
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: Int(port)).wait()
        } catch {
            throw CaptureError("metrics: cannot listen on \(host):\(port): \(error)")
        }
        self.port = UInt16(clamping: channel.localAddress?.port ?? Int(port))
    }

    /// Stops serving.
    public func stop() {
        try? channel.close().wait()
    }

    /// Splits `HOST:PORT` or `[IPV6]:PORT`.
    public static func split(_ address: String) -> (host: String, port: UInt16)? {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else { return nil }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }

    /// Answers one request at a time per connection.
    final class MetricsHandler: ChannelInboundHandler, @unchecked Sendable {
        // Used on its channel's event loop only.
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        private let metrics: PeerWatchMetrics
        private var head: HTTPRequestHead?

        init(metrics: PeerWatchMetrics) { self.metrics = metrics }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let request): head = request
            case .body: break
            case .end:
                guard let request = head else { return }
                head = nil
                respond(to: request, context: context)
            }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if event is IdleStateHandler.IdleStateEvent {
                context.close(promise: nil)
            } else {
                context.fireUserInboundEventTriggered(event)
            }
        }

        private func respond(to request: HTTPRequestHead, context: ChannelHandlerContext) {
            let status: HTTPResponseStatus
            var type = "text/plain; charset=utf-8"
            let body: String
            let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
            if request.method != .GET && request.method != .HEAD {
                status = .methodNotAllowed
                body = "only GET\n"
            } else if path == "/metrics" {
                status = .ok
                body = metrics.exposition()
                type = "text/plain; version=0.0.4; charset=utf-8"
            } else {
                status = .notFound
                body = "see /metrics\n"
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: type)
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            let keepAlive = request.isKeepAlive
            if !keepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
            if request.method != .HEAD {
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: body)))), promise: nil)
            }
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }
}
