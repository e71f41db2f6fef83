import CommerceDomain

/// `stock.reserved`: the stock worker reserved every line of the order, atomically.
///
/// The payment worker charges on it, so it forwards the charge from `order.placed`: `amount`
/// (= `amounts.total`), `currency` and `payment_token`. The payment worker never reads the
/// orders or inventory database.
public struct StockReserved: ContractMessage {
    /// `stock.reserved`.
    public static let messageType = MessageType.stockReserved

    /// The order id.
    public var orderID: String
    /// The customer id (for the payment record).
    public var customerID: String
    /// What was reserved.
    public var lines: [StockLine]
    /// The currency of `amount`.
    public var currency: Currency
    /// The amount to charge, minor units.
    public var amount: Int
    /// The token to charge.
    public var paymentToken: String

    /// Creates the event.
    public init(
        orderID: String, customerID: String, lines: [StockLine], currency: Currency, amount: Int, paymentToken: String
    ) {
        self.orderID = orderID
        self.customerID = customerID
        self.lines = lines
        self.currency = currency
        self.amount = amount
        self.paymentToken = paymentToken
    }

    /// The reservation answer to `placed`: its lines, total, currency and token.
    public init(reserving placed: OrderPlaced) {
        self.init(
            orderID: placed.orderID, customerID: placed.customer.id,
            lines: placed.lines.map { StockLine(sku: $0.sku, quantity: $0.quantity) }, currency: placed.currency,
            amount: placed.amounts.total, paymentToken: placed.paymentToken)
    }

    enum CodingKeys: String, CodingKey {
        case lines, currency, amount
        case orderID = "order_id"
        case customerID = "customer_id"
        case paymentToken = "payment_token"
    }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        orderID = try container.contractIdentifier(.orderID)
        customerID = try container.contractString(.customerID)
        lines = try container.decode([StockLine].self, forKey: .lines)
        currency = try container.contractCurrency(.currency)
        amount = try container.contractAmount(.amount)
        paymentToken = try container.contractString(.paymentToken)
    }
}
