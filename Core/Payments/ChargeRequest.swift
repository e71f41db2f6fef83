import CommerceDomain

/// A charge asked of a ``PaymentGateway``.
public struct ChargeRequest: Sendable, Hashable {
    /// The order paid for (the processor's merchant reference).
    public var orderID: String
    /// The amount, minor units.
    public var amount: Int
    /// The currency of `amount`.
    public var currency: Currency
    /// The card token the customer's checkout gave (`tok_approve` in the sandbox).
    public var paymentToken: String
    /// The same key always gets the same answer: the worker uses `charge:<order_id>`.
    public var idempotencyKey: String

    /// A charge request.
    public init(orderID: String, amount: Int, currency: Currency, paymentToken: String, idempotencyKey: String) {
        self.orderID = orderID
        self.amount = amount
        self.currency = currency
        self.paymentToken = paymentToken
        self.idempotencyKey = idempotencyKey
    }

    /// The idempotency key of an order's charge: one order, one charge, however often asked.
    public static func idempotencyKey(orderID: String) -> String { "charge:\(orderID)" }
}
