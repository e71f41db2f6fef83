import CommerceDomain

/// `payment.succeeded`: the payment worker captured the charge. The order worker confirms
/// the order; if the order was cancelled meanwhile, the payment worker itself refunds on
/// `order.cancelled`, so a cancelled order never stays charged.
public struct PaymentSucceeded: ContractMessage {
    /// `payment.succeeded`.
    public static let messageType = MessageType.paymentSucceeded

    /// The order id.
    public var orderID: String
    /// The payment worker's id for the capture (refunds name it).
    public var paymentID: String
    /// The currency of `amount`.
    public var currency: Currency
    /// The captured amount, minor units.
    public var amount: Int

    /// Creates the event.
    public init(orderID: String, paymentID: String, currency: Currency, amount: Int) {
        self.orderID = orderID
        self.paymentID = paymentID
        self.currency = currency
        self.amount = amount
    }

    enum CodingKeys: String, CodingKey {
        case currency, amount
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
    }
}
