import CommerceSupport

/// What a consumer's loop is doing and since when: the evidence behind `/health/live` and the
/// batch deadline of `/health/ready` (docs/architecture.md, "Metrics and health").
///
/// The loop reports each phase as it enters it. A loop that stays in one working phase longer
/// than a deadline is stuck on a call that does not return; a consumer paused for an outage is
/// waiting on purpose, with backoff, and is never reported as stuck.
public struct ConsumerActivity: Sendable, Equatable {
    public enum Phase: String, Sendable {
        /// Connecting its store, or paused for a store or dependency outage.
        case paused
        /// Waiting up to a second for deliveries.
        case waiting
        /// Handling a batch: prepare, transaction, publish, acknowledge.
        case handling
        /// The outbox relay and retention, between batches.
        case maintaining
    }

    public var phase: Phase
    public var since: ContinuousClock.Instant

    public init(_ phase: Phase, since: ContinuousClock.Instant = .now) {
        self.phase = phase
        self.since = since
    }

    /// A problem for `/health/live` when a working phase has lasted longer than `deadline`.
    public func stuck(deadline: Duration, now: ContinuousClock.Instant = .now) -> String? {
        guard phase != .paused, now - since > deadline else { return nil }
        return
            "\(phase.rawValue) for \(Int((now - since).seconds)) s (health.liveDeadlineMs is \(deadline.milliseconds) ms)"
    }

    /// A problem for `/health/ready` when the batch in hand has run longer than `deadline`.
    public func overrun(deadline: Duration, now: ContinuousClock.Instant = .now) -> String? {
        guard phase == .handling, now - since > deadline else { return nil }
        return
            "batch running for \(Int((now - since).seconds)) s (health.batchDeadlineMs is \(deadline.milliseconds) ms)"
    }
}
