import Dispatch
import Foundation
import Synchronization

/// A request to stop, set from a signal handler queue or another thread, read on the packet path.
public final class StopSignal: Sendable {
    private let requested = Atomic<Bool>(false)
    private let wakers = Mutex<(next: Int, all: [Int: @Sendable () -> Void])>((0, [:]))
    // Signal sources must stay alive as long as the handlers are wanted.
    nonisolated(unsafe) private var sources: [DispatchSourceSignal] = []
    private let installLock = Mutex(())

    public init() {}

    /// Whether a stop was requested.
    public var isRequested: Bool { requested.load(ordering: .relaxed) }

    /// Requests a stop and wakes anything blocked waiting for packets.
    public func request() {
        requested.store(true, ordering: .relaxed)
        wakers.withLock { state in
            for waker in state.all.values { waker() }
        }
    }

    /// Registers `waker`, called when a stop is requested; returns a token for `removeWaker`.
    func addWaker(_ waker: @escaping @Sendable () -> Void) -> Int {
        let token = wakers.withLock { state -> Int in
            state.next += 1
            state.all[state.next] = waker
            return state.next
        }
        if isRequested { waker() }
        return token
    }

    /// Unregisters a waker; once this returns it is never called again.
    func removeWaker(_ token: Int) {
        _ = wakers.withLock { $0.all.removeValue(forKey: token) }
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
                if stops { self.request() }
            }
            source.resume()
            installed.append(source)
        }
        installLock.withLock { _ in sources += installed }
    }
}
