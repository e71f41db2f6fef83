/// One SKU of a stock seed (`config/stock.json`): the units it starts with.
public struct StockSeed: Codable, Sendable, Hashable {
    /// The product id.
    public var sku: String
    /// A display name, for people reading the file; not stored.
    public var name: String?
    /// Units available at the start, ≥ 0.
    public var quantity: Int

    /// Creates a seed line.
    public init(sku: String, name: String? = nil, quantity: Int) {
        self.sku = sku
        self.name = name
        self.quantity = quantity
    }
}
