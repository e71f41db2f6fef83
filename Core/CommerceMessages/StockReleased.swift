import CommerceDomain

/// `stock.released`: the stock worker returned the order's reserved (or sold) units to stock,
/// as compensation for `payment.failed`, `order.cancelled` or `payment.refunded`.
///
/// `reason` says which compensation (`payment_declined`, `customer_request`, `timeout`, …);
/// the order worker cancels a still-open order with that reason.
public struct StockReleased: ContractMessage {
    /// `stock.released`.
    public static let messageType = MessageType.stockReleased

    /// The order id.
    public var orderID: String
    /// What was returned to stock.
    public var lines: [StockLine]
    /// Why it was released.
    public var reason: OrderOutcomeReason

    /// Creates the event.
    public init(orderID: String, lines: [StockLine], reason: OrderOutcomeReason) {
        self.orderID = orderID
        self.lines = lines
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case lines, reason
        case orderID = "order_id"
    }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        orderID = try container.contractIdentifier(.orderID)
        lines = try container.decode([StockLine].self, forKey: .lines)
        reason = try container.contractEnum(OrderOutcomeReason.self, .reason)
    }
}
