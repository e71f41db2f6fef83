import CommerceDomain

/// `order.cancelled`: the order is `CANCELLED`; terminal.
///
/// The compensations key off it: the stock worker releases whatever it holds for the order
/// (reserved or sold) and emits `stock.released`; the payment worker refunds a captured charge
/// (`payment.refunded`) and refuses to charge the order later. Both know their own state by
/// `order_id`, so the event does not repeat the lines. `previous_status` tells upstream systems
/// whether the order had been confirmed (then a refund follows). `amounts` are the order's
/// priced amounts; after compensation the net charge is zero.
public struct OrderCancelled: ContractMessage {
    /// `order.cancelled`.
    public static let messageType = MessageType.orderCancelled

    /// The order id.
    public var orderID: String
    /// Who ordered (for the notification).
    public var customer: Customer
    /// The currency of every amount.
    public var currency: Currency
    /// The order's priced amounts.
    public var amounts: PriceBreakdown
    /// Why: `out_of_stock`, `payment_declined`, `customer_request` or `timeout`.
    public var reason: OrderOutcomeReason
    /// A human explanation (for `customer_request`, the text of `order.cancel`).
    public var message: String
    /// The status the order left: `PENDING`, `STOCK_RESERVED` or `CONFIRMED`.
    public var previousStatus: OrderStatus

    /// Creates the event.
    public init(
        orderID: String, customer: Customer, currency: Currency, amounts: PriceBreakdown, reason: OrderOutcomeReason,
        message: String, previousStatus: OrderStatus
    ) {
        self.orderID = orderID
        self.customer = customer
        self.currency = currency
        self.amounts = amounts
        self.reason = reason
        self.message = message
        self.previousStatus = previousStatus
    }

    enum CodingKeys: String, CodingKey {
        case customer, currency, amounts, reason, message
        case orderID = "order_id"
        case previousStatus = "previous_status"
    }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        orderID = try container.contractIdentifier(.orderID)
        customer = try container.decode(Customer.self, forKey: .customer)
        currency = try container.contractCurrency(.currency)
        amounts = try container.decode(PriceBreakdown.self, forKey: .amounts)
        reason = try container.contractEnum(OrderOutcomeReason.self, .reason)
        message = try container.contractString(.message)
        previousStatus = try container.contractEnum(OrderStatus.self, .previousStatus)
    }
}
