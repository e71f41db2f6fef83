import WorkerRuntime

/// The card processor could not answer (timeout, connection refused, a 5xx): worth trying again.
///
/// Transient with reason `gateway_unavailable`, so a message whose `prepare` meets it goes through
/// the runtime's retry tiers (docs/architecture.md, "Failures"); the circuit breaker counts it as
/// a failure of the dependency.
public struct GatewayError: ClassifiedError, Sendable, Hashable, CustomStringConvertible {
    /// What failed, for people.
    public var message: String
    /// The processor did answer, only not yet with a result: the key's charge is still being
    /// worked on (409 `idempotency_key_in_use`). Worth retrying like any other, but no sign of
    /// trouble with the processor, so the circuit breaker does not count it.
    public var processorAnswered: Bool

    /// A gateway failure.
    public init(_ message: String, processorAnswered: Bool = false) {
        self.message = message
        self.processorAnswered = processorAnswered
    }

    /// Always transient: a processor that did not answer may answer later.
    public var failureClass: FailureClass { .transient }
    /// `gateway_unavailable`.
    public var failureReason: String { "gateway_unavailable" }

    /// A sentence naming the failure.
    public var description: String { "payment gateway unavailable: \(message)" }
}
