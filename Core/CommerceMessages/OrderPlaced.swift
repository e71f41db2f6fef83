import CommerceDomain

/// `order.placed`: the order worker validated, priced and stored the order (`PENDING`).
///
/// Carries everything the next steps need without reading the orders database: the merged
/// `lines` the stock worker reserves; the `amounts.total`, `currency` and `payment_token` the
/// stock worker forwards in `stock.reserved` for the payment worker; the `customer` and
/// address for later notifications.
public struct OrderPlaced: ContractMessage {
    /// `order.placed`.
    public static let messageType = MessageType.orderPlaced

    /// The order id.
    public var orderID: String
    /// Who ordered.
    public var customer: Customer
    /// The currency of every amount.
    public var currency: Currency
    /// The order's lines, one per SKU (repeated SKUs merged), quantities ≥ 1.
    public var lines: [OrderLine]
    /// Where to ship.
    public var shippingAddress: ShippingAddress
    /// The token to charge.
    public var paymentToken: String
    /// The applied coupon (normalized), if any.
    public var couponCode: String?
    /// How the price was made; `amounts.total` is the amount to charge.
    public var amounts: PriceBreakdown

    /// Creates the event.
    public init(
        orderID: String, customer: Customer, currency: Currency, lines: [OrderLine], shippingAddress: ShippingAddress,
        paymentToken: String, couponCode: String? = nil, amounts: PriceBreakdown
    ) {
        self.orderID = orderID
        self.customer = customer
        self.currency = currency
        self.lines = lines
        self.shippingAddress = shippingAddress
        self.paymentToken = paymentToken
        self.couponCode = couponCode
        self.amounts = amounts
    }

    /// The event for a stored order and its quote, keeping the command's customer and token.
    public init(order: Order, quote: PriceQuote, command: PlaceOrder) {
        self.init(
            orderID: order.id, customer: command.customer, currency: order.currency,
            lines: order.items.map(OrderLine.init), shippingAddress: ShippingAddress(order.shippingAddress),
            paymentToken: command.paymentToken, couponCode: quote.couponCode, amounts: PriceBreakdown(quote))
    }

    enum CodingKeys: String, CodingKey {
        case customer, currency, lines, amounts
        case orderID = "order_id"
        case shippingAddress = "shipping_address"
        case paymentToken = "payment_token"
        case couponCode = "coupon_code"
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
        paymentToken = try container.contractString(.paymentToken)
        couponCode = try container.contractOptionalString(.couponCode)
        amounts = try container.decode(PriceBreakdown.self, forKey: .amounts)
    }
}

extension OrderLine {
    /// The contract form of a domain order line.
    public init(_ item: OrderItem) {
        self.init(sku: item.productID, name: item.name, quantity: item.quantity, unitPrice: item.unitPrice.amount)
    }
}
