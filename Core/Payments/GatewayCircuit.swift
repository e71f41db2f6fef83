import Logging
import Metrics
import Resilience
import WorkerRuntime

/// The payment worker's circuit breaker around the card processor, reporting itself: the gauge
/// `commerce_circuit_state{circuit="payment_gateway"}` (0 closed, 1 half-open, 2 open), the
/// counter `commerce_circuit_transitions_total{circuit, from, to}`, and a log line per change.
public enum GatewayCircuit {
    /// The `circuit` label.
    public static let label = "payment_gateway"

    /// The breaker's settings from the payment worker's keys `payment.circuit.failureThreshold`,
    /// `payment.circuit.openTimeoutMs` and `payment.circuit.successThreshold` (docs/operations.md,
    /// "The fleet and its settings").
    /// - Throws: ``WorkerConfigurationError`` naming the first key out of range: a threshold
    ///   below 1 or a negative timeout.
    public static func configuration(
        failureThreshold: Int, openTimeoutMs: Int, successThreshold: Int
    ) throws(WorkerConfigurationError) -> CircuitBreaker.Configuration {
        guard failureThreshold >= 1 else {
            throw WorkerConfigurationError(key: "payment.circuit.failureThreshold", problem: "must be ≥ 1")
        }
        guard openTimeoutMs >= 0 else {
            throw WorkerConfigurationError(key: "payment.circuit.openTimeoutMs", problem: "must be ≥ 0")
        }
        guard successThreshold >= 1 else {
            throw WorkerConfigurationError(key: "payment.circuit.successThreshold", problem: "must be ≥ 1")
        }
        return CircuitBreaker.Configuration(
            failureThreshold: failureThreshold, openTimeout: .milliseconds(openTimeoutMs),
            successThreshold: successThreshold)
    }

    /// A closed breaker with `configuration`.
    public static func make(configuration: CircuitBreaker.Configuration, logger: Logger) -> CircuitBreaker {
        let state = Gauge(label: "commerce_circuit_state", dimensions: [("circuit", label)])
        state.record(0)
        return CircuitBreaker(
            configuration: configuration,
            onTransition: { transition in
                state.record(value(of: transition.to))
                Counter(
                    label: "commerce_circuit_transitions_total",
                    dimensions: [
                        ("circuit", label), ("from", name(of: transition.from)), ("to", name(of: transition.to)),
                    ]
                ).increment()
                let metadata: Logger.Metadata = [
                    "from": "\(name(of: transition.from))", "to": "\(name(of: transition.to))",
                ]
                if transition.to == .open {
                    logger.error("payment gateway circuit opened", metadata: metadata)
                } else {
                    logger.notice("payment gateway circuit changed", metadata: metadata)
                }
            })
    }

    static func value(of state: CircuitBreaker.State) -> Int {
        switch state {
        case .closed: 0
        case .halfOpen: 1
        case .open: 2
        }
    }

    static func name(of state: CircuitBreaker.State) -> String {
        switch state {
        case .closed: "closed"
        case .halfOpen: "half_open"
        case .open: "open"
        }
    }
}
