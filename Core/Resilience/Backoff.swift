import Foundation

/// Exponential backoff with a cap and optional jitter: how long to wait before a retry.
///
/// The delay before retry number `attempt` (1 for the first retry) is
/// `min(maximumDelay, initialDelay × multiplier^(attempt − 1))`, then spread by ``Jitter-swift.enum``
/// so that many clients failing together do not retry together. Pure value type, no I/O and no
/// clock; pass a seeded generator to ``delay(forAttempt:using:)`` for reproducible delays.
public struct Backoff: Sendable, Hashable {
    /// How the capped exponential delay is randomised.
    public enum Jitter: Sendable, Hashable {
        /// No randomness: exactly the capped exponential delay.
        case none
        /// Uniform in `0...delay` ("full jitter"): spreads a crowd of retries the most, and the
        /// usual choice when many workers hit the same dependency.
        case full
        /// `delay/2` plus uniform in `0...delay/2` ("equal jitter"): never less than half the
        /// delay, for when an immediate retry would be pointless.
        case equal
    }

    /// The delay before the first retry, before jitter.
    public var initialDelay: Duration
    /// The factor between consecutive delays (2 doubles each time; 1 keeps them constant).
    public var multiplier: Double
    /// The cap on any delay, before jitter; jitter never exceeds it.
    public var maximumDelay: Duration
    /// The randomisation.
    public var jitter: Jitter

    /// A backoff policy.
    ///
    /// - Precondition: `initialDelay` and `maximumDelay` are not negative, and `multiplier` is
    ///   finite and at least 1.
    public init(
        initialDelay: Duration = .milliseconds(100),
        multiplier: Double = 2,
        maximumDelay: Duration = .seconds(30),
        jitter: Jitter = .full
    ) {
        precondition(initialDelay >= .zero && maximumDelay >= .zero, "backoff delays must not be negative")
        precondition(multiplier.isFinite && multiplier >= 1, "backoff multiplier must be finite and at least 1")
        self.initialDelay = initialDelay
        self.multiplier = multiplier
        self.maximumDelay = maximumDelay
        self.jitter = jitter
    }

    /// The capped exponential delay before retry `attempt`, without jitter.
    ///
    /// `attempt` counts retries from 1; values below 1 are treated as 1. Very large attempts
    /// give ``maximumDelay`` (no overflow).
    public func cappedDelay(forAttempt attempt: Int) -> Duration {
        let cap = Self.nanoseconds(maximumDelay)
        let exponent = Double(max(attempt, 1) - 1)
        // Computed in whole nanoseconds so that delays like 100 ms × 2ⁿ come out exact.
        let scaled = Double(Self.nanoseconds(initialDelay)) * pow(multiplier, exponent)
        guard scaled.isFinite, scaled < Double(cap) else { return .nanoseconds(cap) }
        return .nanoseconds(Int64(scaled.rounded()))
    }

    /// The delay before retry `attempt`, with jitter drawn from `generator`.
    ///
    /// Deterministic for a deterministic generator: the same seed gives the same delays.
    public func delay<Generator: RandomNumberGenerator>(
        forAttempt attempt: Int, using generator: inout Generator
    ) -> Duration {
        let capped = Self.nanoseconds(cappedDelay(forAttempt: attempt))
        switch jitter {
        case .none:
            return .nanoseconds(capped)
        case .full:
            return .nanoseconds(Int64.random(in: 0...capped, using: &generator))
        case .equal:
            let half = capped / 2
            // capped − half rather than half, so an odd number of nanoseconds still reaches capped.
            return .nanoseconds(capped - half + Int64.random(in: 0...half, using: &generator))
        }
    }

    /// The delay before retry `attempt`, with jitter from the system's random generator.
    public func delay(forAttempt attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(forAttempt: attempt, using: &generator)
    }

    /// A duration in whole nanoseconds, saturating at `Int64.max` (about 292 years).
    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflowAdding) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflowAdding ? .max : total
    }
}
