/// `order.cancel`: the upstream command that asks to cancel an order, before or after its
/// confirmation. Shape fixed by `docs/schemas/order.cancel.json`: `{ "order_id": …, "reason": "…" }`.
///
/// `reason` is the customer's or operator's free text; the resulting `order.cancelled`
/// carries the machine-readable reason `customer_request` and this text as its `message`.
public struct CancelOrder: ContractMessage {
    /// `order.cancel`.
    public static let messageType = MessageType.orderCancel

    /// The order to cancel.
    public var orderID: String
    /// Why, in words (may be empty; at most 1,000 characters).
    public var reason: String

    /// Creates the command.
    public init(orderID: String, reason: String) {
        self.orderID = orderID
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case reason
        case orderID = "order_id"
    }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        orderID = try container.contractIdentifier(.orderID)
        reason = try container.contractString(.reason, maximumLength: 1_000)
    }
}
