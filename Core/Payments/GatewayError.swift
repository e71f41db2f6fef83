import WorkerRuntime

/// The card processor could not answer (timeout, connection refused, a 5xx): worth trying again.
///
/// Transient with reason `gateway_unavailable`, so a message whose `prepare` meets it goes through
/// the runtime's retry tiers (docs/architecture.md, "Failures"); the circuit breaker counts it as
/// a failure of the dependency.
public struct GatewayError: ClassifiedError, Sendable, Hashable, CustomStringConvertible {
    /// What failed, for people.
    public var message: String

    /// A gateway failure.
    public init(_ message: String) { self.message = message }

    /// Always transient: a processor that did not answer may answer later.
    public var failureClass: FailureClass { .transient }
    /// `gateway_unavailable`.
    public var failureReason: String { "gateway_unavailable" }

    /// A sentence naming the failure.
    public var description: String { "payment gateway unavailable: \(message)" }
}
