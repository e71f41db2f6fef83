/// A refund asked of a ``PaymentGateway``.
public struct RefundRequest: Sendable, Hashable {
    /// The capture to refund.
    public var paymentID: String
    /// The amount to give back, minor units; never more than is left of the capture.
    public var amount: Int
    /// The same key always gets the same answer: the worker uses `refund:<order_id>`.
    public var idempotencyKey: String

    /// A refund request.
    public init(paymentID: String, amount: Int, idempotencyKey: String) {
        self.paymentID = paymentID
        self.amount = amount
        self.idempotencyKey = idempotencyKey
    }

    /// The idempotency key of an order's refund: an order is refunded once, in full.
    public static func idempotencyKey(orderID: String) -> String { "refund:\(orderID)" }
}
