/// The port to a card processor: what the payment worker needs from one, and nothing of how it is
/// reached: ``SandboxGateway`` in process, or the HTTP adapter of `PaymentsHTTP` to the
/// `payment-gateway` server (docs/payment-gateway.md).
///
/// Every call is idempotent by its request's idempotency key, as card processors' APIs are: the
/// payment worker's `prepare` runs again on every redelivery (docs/architecture.md, "Guarantees"),
/// so the same key must give the same answer and never a second capture or refund.
///
/// A business answer (a declined card, a refused refund) is a result, not an error. An error
/// means the processor could not answer; adapters throw ``GatewayError`` for the ones worth
/// retrying.
public protocol PaymentGateway: Sendable {
    /// Charges a card: captures the amount or reports the decline.
    func charge(_ request: ChargeRequest) async throws -> ChargeResult

    /// Refunds (part of) a capture.
    func refund(_ request: RefundRequest) async throws -> RefundResult

    /// The answer already given to the charge with `idempotencyKey`, or `nil` if the processor
    /// has none: how the worker learns, outside its transaction, whether an order was captured.
    func lookup(idempotencyKey: String) async throws -> ChargeResult?

    /// Returns when the processor answers its health check, throws ``GatewayError`` when it does
    /// not: how the worker probes a half-open circuit without sending a charge.
    func checkHealth() async throws
}
