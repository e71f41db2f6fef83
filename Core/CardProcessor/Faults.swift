import Synchronization

/// Faults the card processor injects into its own API, for tests and chaos runs: a share of
/// requests answered 503 before anything is done, and a delay added to every request.
public struct Faults: Sendable, Hashable, Codable {
    /// The fraction of API requests answered 503 `processor_unavailable` at once, 0 … 1.
    public var errorRate: Double
    /// Milliseconds added before every API request is handled, 0 … ``maximumLatencyMilliseconds``.
    public var latencyMilliseconds: Int
    /// The `Retry-After` seconds the injected 503s carry, 0 … 3,600; none when nil.
    public var retryAfterSeconds: Int?

    /// The longest added latency: 1 minute.
    public static let maximumLatencyMilliseconds = 60_000

    /// No faults.
    public static let none = Faults(errorRate: 0, latencyMilliseconds: 0)

    /// Faults; see ``validationProblem`` for the ranges.
    public init(errorRate: Double, latencyMilliseconds: Int, retryAfterSeconds: Int? = nil) {
        self.errorRate = errorRate
        self.latencyMilliseconds = latencyMilliseconds
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// What is wrong with these values, or `nil` when they are in range.
    public var validationProblem: String? {
        if !errorRate.isFinite || errorRate < 0 || errorRate > 1 { return "error_rate must be between 0 and 1" }
        if latencyMilliseconds < 0 || latencyMilliseconds > Self.maximumLatencyMilliseconds {
            return "latency_ms must be between 0 and \(Self.maximumLatencyMilliseconds)"
        }
        if let retryAfterSeconds, !(0...3_600).contains(retryAfterSeconds) {
            return "retry_after_s must be between 0 and 3600"
        }
        return nil
    }

    enum CodingKeys: String, CodingKey {
        case errorRate = "error_rate"
        case latencyMilliseconds = "latency_ms"
        case retryAfterSeconds = "retry_after_s"
    }
}

/// The faults in force, changed at run time through the admin listener. Thread-safe.
public final class FaultInjector: Sendable {
    private let faults: Mutex<Faults>

    /// Starts with `initial` (from configuration).
    public init(_ initial: Faults = .none) {
        faults = Mutex(initial)
    }

    /// The faults in force.
    public var current: Faults {
        get { faults.withLock { $0 } }
        set { faults.withLock { $0 = newValue } }
    }
}
