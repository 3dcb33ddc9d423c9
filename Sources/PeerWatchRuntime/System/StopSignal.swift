import Dispatch
import Foundation
import Synchronization

/// A request to stop, set from a signal handler queue or another thread, read on the packet path.
public final class StopSignal: Sendable {
    private let requested = Atomic<Bool>(false)
    // Signal sources must stay alive as long as the handlers are wanted.
    nonisolated(unsafe) private var sources: [DispatchSourceSignal] = []
    private let installLock = Mutex(())

    public init() {}

    /// Whether a stop was requested.
    public var isRequested: Bool { requested.load(ordering: .relaxed) }

    /// Requests a stop.
    public func request() { requested.store(true, ordering: .relaxed) }

    /// Turns SIGINT and SIGTERM into a stop request (the default action, dying mid-write, is
    /// replaced). The corresponding C function is `signal`.
    public func installHandlers(_ signals: [Int32] = [SIGINT, SIGTERM], onSignal: @escaping @Sendable (Int32) -> Void = { _ in }) {
        let queue = DispatchQueue(label: "peerwatch-signals")
        var installed: [DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [self] in
                onSignal(number)
                self.request()
            }
            source.resume()
            installed.append(source)
        }
        installLock.withLock { _ in sources += installed }
    }
}
