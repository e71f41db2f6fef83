import WorkerRuntime

/// The card processor answered and refused this one request (a 4xx other than 401, 403, 408 and
/// 429): the request is wrong and will stay wrong, such as a payment token or an amount outside
/// the processor's limits (docs/payment-gateway.md, "Limits").
///
/// It says nothing against the processor, which answered: the circuit breaker counts it as a
/// success. For a charge, the payment worker turns it into that payment's failure
/// (`payment.failed`, so the order's stock is released at once); anywhere else it is a permanent
/// failure of the message (dead-lettered with reason `gateway_rejected_request`), because a
/// refund or a lookup the processor refuses needs a person.
public struct GatewayRefusal: ClassifiedError, Sendable, Hashable, CustomStringConvertible {
    /// The HTTP status of the answer.
    public var status: Int
    /// The processor's machine-readable error type (`invalid_request`), when it gave one.
    public var type: String?
    /// What was refused and why, for people (`POST /v1/charges answered 400 invalid_request: …`).
    public var message: String

    /// A refusal of one request.
    public init(status: Int, type: String?, message: String) {
        self.status = status
        self.type = type
        self.message = message
    }

    /// Sending the same request again gets the same refusal.
    public var failureClass: FailureClass { .permanent }
    /// `gateway_rejected_request`.
    public var failureReason: String { "gateway_rejected_request" }

    /// The sentence in the dead letter's `x-error-message`.
    public var description: String { message }
}
