import Logging
import Metrics

/// A ``PaymentGateway`` decorator that times every call and logs its outcome: the timer
/// `commerce_gateway_duration_seconds{operation, outcome}` (`operation`: `charge`, `refund`,
/// `lookup`, `health`; `outcome`: `captured`, `declined`, `refunded`, `refused`, `found`, `missing`,
/// `ok` or `error`), so a slow or failing processor shows on `/metrics` before the retries pile up.
public struct MeteredGateway<Base: PaymentGateway>: PaymentGateway {
    /// The decorated gateway.
    public let base: Base
    private let logger: Logger

    /// Wraps `base`; `logger` gets one line per call (debug, or warning for an error).
    public init(_ base: Base, logger: Logger) {
        self.base = base
        self.logger = logger
    }

    /// The base gateway's charge, timed and logged.
    public func charge(_ request: ChargeRequest) async throws -> ChargeResult {
        try await measure("charge", key: request.idempotencyKey) {
            let result = try await base.charge(request)
            switch result {
            case .captured: return (result, "captured")
            case .declined: return (result, "declined")
            }
        }
    }

    /// The base gateway's refund, timed and logged.
    public func refund(_ request: RefundRequest) async throws -> RefundResult {
        try await measure("refund", key: request.idempotencyKey) {
            let result = try await base.refund(request)
            switch result {
            case .refunded: return (result, "refunded")
            case .refused: return (result, "refused")
            }
        }
    }

    /// The base gateway's lookup, timed and logged.
    public func lookup(idempotencyKey: String) async throws -> ChargeResult? {
        try await measure("lookup", key: idempotencyKey) {
            let result = try await base.lookup(idempotencyKey: idempotencyKey)
            return (result, result == nil ? "missing" : "found")
        }
    }

    /// The base gateway's health check, timed (operation `health`) and logged.
    public func checkHealth() async throws {
        try await measure("health", key: "-") {
            try await base.checkHealth()
            return ((), "ok")
        }
    }

    private func measure<T>(
        _ operation: String, key: String, _ call: () async throws -> (T, String)
    ) async throws -> T {
        let start = ContinuousClock.now
        do {
            let (value, outcome) = try await call()
            record(operation, outcome: outcome, since: start)
            logger.debug(
                "gateway call",
                metadata: ["operation": "\(operation)", "idempotency_key": "\(key)", "outcome": "\(outcome)"])
            return value
        } catch {
            record(operation, outcome: "error", since: start)
            logger.warning(
                "gateway call failed",
                metadata: ["operation": "\(operation)", "idempotency_key": "\(key)", "error": "\(error)"])
            throw error
        }
    }

    private func record(_ operation: String, outcome: String, since start: ContinuousClock.Instant) {
        let elapsed = ContinuousClock.now - start
        let (seconds, attoseconds) = elapsed.components
        Metrics.Timer(
            label: "commerce_gateway_duration_seconds", dimensions: [("operation", operation), ("outcome", outcome)],
            preferredDisplayUnit: .seconds
        )
        .recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
