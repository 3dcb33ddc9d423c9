import Foundation
import PeerWatchCore
import Synchronization

extension Timestamp {
    /// The wall-clock time now. The corresponding C function is `clock_gettime(CLOCK_REALTIME)`.
    public static var now: Timestamp {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Timestamp(seconds: Int64(time.tv_sec), microseconds: Int64(time.tv_nsec / 1_000))
    }
}

/// The clocks the runtime reads, passed in so that tests can drive time by hand: the wall clock
/// (what records say) and a monotonic clock (what rates and intervals are measured with).
public struct SensorClock: Sendable {
    /// The wall-clock time.
    public var wall: @Sendable () -> Timestamp
    /// Time since an arbitrary fixed origin; never goes back.
    public var monotonic: @Sendable () -> Duration

    public init(wall: @escaping @Sendable () -> Timestamp, monotonic: @escaping @Sendable () -> Duration) {
        self.wall = wall
        self.monotonic = monotonic
    }

    /// The system's clocks. The corresponding C function is `clock_gettime`.
    public static let system = SensorClock(wall: { Timestamp.now }, monotonic: {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return .seconds(Int64(time.tv_sec)) + .nanoseconds(Int64(time.tv_nsec))
    })
}

/// A clock that moves only when told to (tests).
public final class ManualClock: Sendable {
    private let elapsed = Mutex<Duration>(.zero)
    private let origin: Timestamp

    /// Starts at `origin` on the wall clock.
    public init(origin: Timestamp = Timestamp(seconds: 1_800_000_000, microseconds: 0)) {
        self.origin = origin
    }

    /// Moves both clocks forward by `duration`.
    public func advance(by duration: Duration) {
        elapsed.withLock { $0 += duration }
    }

    /// The clocks, for whoever is being tested.
    public var clock: SensorClock {
        SensorClock(wall: { [self] in
            let now = elapsed.withLock { $0 }
            return Timestamp(microseconds: origin.microseconds + now.components.seconds * 1_000_000 + now.components.attoseconds / 1_000_000_000_000)
        }, monotonic: { [self] in elapsed.withLock { $0 } })
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
