import CommerceMessages
import Postgres

/// How a failed message is treated (docs/architecture.md, "Failures").
public enum FailureClass: String, Sendable, Hashable {
    /// Worth trying again later (gateway timeout, circuit open, lock timeout): the message goes
    /// through the retry delay tiers, a bounded number of times, then to the dead-letter queue.
    case transient
    /// Trying again cannot help (malformed JSON, schema violation, unknown type, impossible
    /// state): the message goes to the dead-letter queue at once.
    case permanent
}

/// A handler's or the runtime's verdict on one message that could not be processed.
///
/// Throw it from ``MessageHandler/decode(_:)`` or ``MessageHandler/handle(_:prepared:context:)`` to say how
/// the failure is classified. Any other error a handler throws is classified by
/// ``HandlingFailure/classify(_:)``.
public struct HandlingFailure: Error, Sendable, CustomStringConvertible {
    public var failureClass: FailureClass
    /// A short machine-readable reason, carried in the `x-error-reason` header
    /// (`malformed_json`, `schema_violation`, `gateway_timeout` …).
    public var reason: String
    /// What a person reads in `x-error-message`.
    public var message: String
    /// Set when the failure is a ``DependencyOutage`` of this dependency: the runtime then pauses
    /// instead of retrying the message (docs/architecture.md, "Outages").
    public var outageOf: String?

    public init(_ failureClass: FailureClass, reason: String, message: String) {
        self.failureClass = failureClass
        self.reason = reason
        self.message = message
    }

    public static func transient(_ reason: String, _ message: String) -> HandlingFailure {
        HandlingFailure(.transient, reason: reason, message: message)
    }

    public static func permanent(_ reason: String, _ message: String) -> HandlingFailure {
        HandlingFailure(.permanent, reason: reason, message: message)
    }

    public var description: String { "\(failureClass) failure (\(reason)): \(message)" }

    /// Classifies an error a handler threw. A ``HandlingFailure`` keeps its own class; an error
    /// conforming to ``ClassifiedError`` says its own; anything else is treated as transient
    /// (bounded retries, then the dead-letter queue), the cautious default of MassTransit and
    /// NServiceBus for unknown exceptions.
    public static func classify(_ error: any Error) -> HandlingFailure {
        if let failure = error as? HandlingFailure { return failure }
        if let outage = error as? DependencyOutage {
            var failure = HandlingFailure(.transient, reason: "dependency_outage", message: "\(outage)")
            failure.outageOf = outage.dependency
            return failure
        }
        if let classified = error as? any ClassifiedError {
            return HandlingFailure(classified.failureClass, reason: classified.failureReason, message: "\(error)")
        }
        return HandlingFailure(.transient, reason: "unclassified_error", message: "\(error)")
    }
}

/// An error type that knows how the runtime should treat it.
public protocol ClassifiedError: Error {
    var failureClass: FailureClass { get }
    /// Machine-readable reason for the `x-error-reason` header.
    var failureReason: String { get }
}

extension ContractError: ClassifiedError {
    /// A body or envelope that breaks the contract never will meet it: dead-letter at once.
    public var failureClass: FailureClass { .permanent }
    /// The contract's own code (`malformed_json`, `missing_field` …).
    public var failureReason: String { code.name }
}

extension PostgresError: ClassifiedError {
    /// Data the database refuses (class 22: a NUL in text, a value out of range) is refused again
    /// on every retry: permanent. Anything else a handler's statement hits (a constraint raced by
    /// another worker copy, a lock timeout) may pass next time: transient.
    public var failureClass: FailureClass { sqlState?.hasPrefix("22") == true ? .permanent : .transient }
    public var failureReason: String { sqlState?.hasPrefix("22") == true ? "invalid_data" : "database_error" }
}
