/// One product line of an order as it travels in messages (`items` of `order.place`,
/// `lines` of `order.placed` and `order.confirmed`).
///
/// `unit_price` is minor units of the message's `currency` and never negative. In
/// `order.place` the quantity may be any integer (a non-positive one is a business rule and
/// leads to `order.rejected`, not to a dead letter); in events it is at least 1.
public struct OrderLine: Codable, Sendable, Hashable {
    /// The product id.
    public var sku: String
    /// The product's display name.
    public var name: String
    /// How many units.
    public var quantity: Int
    /// The price of one unit, in minor units.
    public var unitPrice: Int

    /// Creates a line.
    public init(sku: String, name: String, quantity: Int, unitPrice: Int) {
        self.sku = sku
        self.name = name
        self.quantity = quantity
        self.unitPrice = unitPrice
    }

    enum CodingKeys: String, CodingKey {
        case sku, name, quantity
        case unitPrice = "unit_price"
    }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sku = try container.contractString(.sku)
        name = try container.contractString(.name)
        quantity = try container.contractInteger(.quantity)
        unitPrice = try container.contractAmount(.unitPrice)
    }

    /// Throws unless every quantity is ≥ 1 and every SKU is non-empty (the event form).
    static func requireEventLines(_ lines: [OrderLine], key: String) throws(ContractError) {
        for (index, line) in lines.enumerated() {
            if line.sku.isEmpty {
                throw ContractError(.invalidValue, field: "\(key)[\(index)].sku", "must not be empty")
            }
            if line.quantity < 1 {
                throw ContractError(
                    .invalidValue, field: "\(key)[\(index)].quantity", "must be ≥ 1, got \(line.quantity)")
            }
        }
    }
}
