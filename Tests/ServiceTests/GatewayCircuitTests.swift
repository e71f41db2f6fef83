import Payments
import Resilience
import Testing
import WorkerRuntime

/// The payment worker's breaker settings (`payment.circuit.*`), read by its `main`.
@Suite("Payments: the gateway circuit's settings")
struct GatewayCircuitTests {
    @Test("the three keys make the breaker's configuration, success threshold included")
    func configuration() throws {
        let configuration = try GatewayCircuit.configuration(
            failureThreshold: 4, openTimeoutMs: 2_500, successThreshold: 2)
        #expect(
            configuration
                == CircuitBreaker.Configuration(
                    failureThreshold: 4, openTimeout: .milliseconds(2_500), successThreshold: 2))
    }

    @Test("the documented defaults: 5 failures, 30 s open, 3 successful trials")
    func defaults() throws {
        let configuration = try GatewayCircuit.configuration(
            failureThreshold: 5, openTimeoutMs: 30_000, successThreshold: 3)
        #expect(configuration == CircuitBreaker.Configuration())
    }

    @Test(
        "a value out of range is refused, naming its key",
        arguments: [
            (0, 1_000, 3, "payment.circuit.failureThreshold"), (5, -1, 3, "payment.circuit.openTimeoutMs"),
            (5, 1_000, 0, "payment.circuit.successThreshold"),
        ])
    func refused(example: (Int, Int, Int, String)) {
        let (failures, timeout, successes, key) = example
        let error = #expect(throws: WorkerConfigurationError.self) {
            try GatewayCircuit.configuration(
                failureThreshold: failures, openTimeoutMs: timeout, successThreshold: successes)
        }
        #expect(error?.key == key)
    }
}
