import CommerceDomain

/// `stock.rejected`: at least one line could not be reserved, so nothing was (reservations
/// are all or nothing). The order worker cancels the order with reason `out_of_stock`.
public struct StockRejected: ContractMessage {
    /// `stock.rejected`.
    public static let messageType = MessageType.stockRejected

    /// The order id.
    public var orderID: String
    /// Why (`out_of_stock`).
    public var reason: OrderOutcomeReason
    /// A human explanation.
    public var message: String
    /// The lines that were short (at least one).
    public var shortages: [StockShortage]

    /// Creates the event.
    public init(orderID: String, reason: OrderOutcomeReason = .outOfStock, message: String, shortages: [StockShortage])
    {
        self.orderID = orderID
        self.reason = reason
        self.message = message
        self.shortages = shortages
    }

    enum CodingKeys: String, CodingKey {
        case reason, message, shortages
        case orderID = "order_id"
    }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        orderID = try container.contractIdentifier(.orderID)
        reason = try container.contractEnum(OrderOutcomeReason.self, .reason)
        message = try container.contractString(.message)
        shortages = try container.decode([StockShortage].self, forKey: .shortages)
    }
}
