import CommerceDomain

/// `order.confirmed`: stock reserved and payment captured; the order is `CONFIRMED`.
///
/// Terminal for the saga (only a customer's `order.cancel` can still undo it). Carries what
/// the notification worker and upstream systems need: customer, lines, address and amounts;
/// `amounts.total` equals the captured payment `payment_id`.
public struct OrderConfirmed: ContractMessage {
    /// `order.confirmed`.
    public static let messageType = MessageType.orderConfirmed

    /// The order id.
    public var orderID: String
    /// Who ordered.
    public var customer: Customer
    /// The currency of every amount.
    public var currency: Currency
    /// The order's lines (quantities ≥ 1).
    public var lines: [OrderLine]
    /// Where it ships.
    public var shippingAddress: ShippingAddress
    /// The final amounts; `total` was charged.
    public var amounts: PriceBreakdown
    /// The payment worker's id of the captured charge.
    public var paymentID: String

    /// Creates the event.
    public init(
        orderID: String, customer: Customer, currency: Currency, lines: [OrderLine], shippingAddress: ShippingAddress,
        amounts: PriceBreakdown, paymentID: String
    ) {
        self.orderID = orderID
        self.customer = customer
        self.currency = currency
        self.lines = lines
        self.shippingAddress = shippingAddress
        self.amounts = amounts
        self.paymentID = paymentID
    }

    enum CodingKeys: String, CodingKey {
        case customer, currency, lines, amounts
        case orderID = "order_id"
        case shippingAddress = "shipping_address"
        case paymentID = "payment_id"
    }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        orderID = try container.contractIdentifier(.orderID)
        customer = try container.decode(Customer.self, forKey: .customer)
        currency = try container.contractCurrency(.currency)
        lines = try container.decode([OrderLine].self, forKey: .lines)
        try OrderLine.requireEventLines(lines, key: "lines")
        shippingAddress = try container.decode(ShippingAddress.self, forKey: .shippingAddress)
        amounts = try container.decode(PriceBreakdown.self, forKey: .amounts)
        paymentID = try container.contractIdentifier(.paymentID)
    }
}
