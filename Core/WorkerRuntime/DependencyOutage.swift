/// A service that a handler's ``MessageHandler/prepare(_:envelope:attempts:)`` calls (a card
/// processor) is down as a whole, not for this message: typically its circuit breaker is open.
///
/// Throw it from `prepare` and the runtime treats the dependency like a database outage
/// (docs/architecture.md, "Outages"): the message goes back to its queue without an attempt being
/// counted, the consumer stops taking deliveries (what it holds goes back to the queue too),
/// probes the dependency with backoff through ``MessageHandler/probeDependencies()`` and consumes
/// again once the probe succeeds. Messages are not burnt through their retry tiers for an outage
/// that is not their fault. A dependency that fails one call but not the next is not an outage:
/// throw a transient ``HandlingFailure`` (or a transient ``ClassifiedError``) for that.
public struct DependencyOutage: Error, Sendable, CustomStringConvertible {
    /// The dependency, for logs and `/health` (`payment gateway`).
    public var dependency: String
    /// What is known of the outage (`circuit open; retry in 12 s`).
    public var message: String

    /// An outage of `dependency`.
    public init(dependency: String, message: String) {
        self.dependency = dependency
        self.message = message
    }

    public var description: String { "\(dependency) unavailable: \(message)" }
}
