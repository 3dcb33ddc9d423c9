import Dispatch
import Foundation
import Synchronization

/// A request to stop, set from a signal handler queue or another thread, read on the capture thread.
public final class StopSignal: Sendable {
    private let requested = Atomic<Bool>(false)
    private let signalNumber = Atomic<Int32>(0)
    // Signal sources must stay alive as long as the handlers are wanted.
    nonisolated(unsafe) private var sources: [DispatchSourceSignal] = []
    private let installLock = Mutex(())

    public init() {}

    /// Whether a stop was requested.
    public var isRequested: Bool { requested.load(ordering: .relaxed) }

    /// The signal that requested the stop (0: none, or a request from code).
    public var requestingSignal: Int32 { signalNumber.load(ordering: .relaxed) }

    /// Requests a stop; the capture loop sees it within its wait of at most 200 ms.
    public func request() {
        requested.store(true, ordering: .relaxed)
    }

    /// Turns SIGINT and SIGTERM into a stop request (the default action, dying mid-write, is
    /// replaced). The corresponding C function is `signal`.
    /// - Parameter stops: whether these signals request a stop (SIGHUP, for a reload, does not).
    public func installHandlers(_ signals: [Int32] = [SIGINT, SIGTERM], stops: Bool = true, onSignal: @escaping @Sendable (Int32) -> Void = { _ in }) {
        let queue = DispatchQueue(label: "peerwatch-signals")
        var installed: [DispatchSourceSignal] = []
        for number in signals {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler { [self] in
                onSignal(number)
                if stops {
                    self.signalNumber.store(number, ordering: .relaxed)
                    self.request()
                }
            }
            source.resume()
            installed.append(source)
        }
        installLock.withLock { _ in sources += installed }
    }
}
