import CommerceDomain

/// `payment.failed`: the charge was declined (or gave up after its retries). Nothing was
/// captured. The stock worker releases the reservation (`stock.released`) and the order
/// worker cancels the order with reason `payment_declined`.
public struct PaymentFailed: ContractMessage {
    /// `payment.failed`.
    public static let messageType = MessageType.paymentFailed

    /// The order id.
    public var orderID: String
    /// The currency of `amount`.
    public var currency: Currency
    /// The amount that was not charged, minor units.
    public var amount: Int
    /// Why, for the saga (`payment_declined`).
    public var reason: OrderOutcomeReason
    /// The gateway's own code (`declined`, `insufficient_funds`), for people and reports.
    public var declineCode: String
    /// A human explanation.
    public var message: String

    /// Creates the event.
    public init(
        orderID: String, currency: Currency, amount: Int, reason: OrderOutcomeReason = .paymentDeclined,
        declineCode: String, message: String
    ) {
        self.orderID = orderID
        self.currency = currency
        self.amount = amount
        self.reason = reason
        self.declineCode = declineCode
        self.message = message
    }

    enum CodingKeys: String, CodingKey {
        case currency, amount, reason, message
        case orderID = "order_id"
        case declineCode = "decline_code"
    }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        orderID = try container.contractIdentifier(.orderID)
        currency = try container.contractCurrency(.currency)
        amount = try container.contractAmount(.amount)
        reason = try container.contractEnum(OrderOutcomeReason.self, .reason)
        declineCode = try container.contractString(.declineCode)
        message = try container.contractString(.message)
    }
}
