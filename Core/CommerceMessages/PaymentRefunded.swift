import CommerceDomain

/// `payment.refunded`: a captured charge was refunded in full, because the order was
/// cancelled (after confirmation, on timeout, or a late capture for a cancelled order). The
/// stock worker returns sold units to stock if it still holds them.
public struct PaymentRefunded: ContractMessage {
    /// `payment.refunded`.
    public static let messageType = MessageType.paymentRefunded

    /// The order id.
    public var orderID: String
    /// The refunded capture.
    public var paymentID: String
    /// The currency of `amount`.
    public var currency: Currency
    /// The refunded amount, minor units (the whole capture).
    public var amount: Int
    /// The cancellation's reason (`customer_request`, `timeout`, …).
    public var reason: OrderOutcomeReason

    /// Creates the event.
    public init(orderID: String, paymentID: String, currency: Currency, amount: Int, reason: OrderOutcomeReason) {
        self.orderID = orderID
        self.paymentID = paymentID
        self.currency = currency
        self.amount = amount
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case currency, amount, reason
        case orderID = "order_id"
        case paymentID = "payment_id"
    }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        orderID = try container.contractIdentifier(.orderID)
        paymentID = try container.contractIdentifier(.paymentID)
        currency = try container.contractCurrency(.currency)
        amount = try container.contractAmount(.amount)
        reason = try container.contractEnum(OrderOutcomeReason.self, .reason)
    }
}
