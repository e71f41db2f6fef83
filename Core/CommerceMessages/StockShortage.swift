/// A line the stock worker could not reserve (`shortages` of `stock.rejected`).
public struct StockShortage: Codable, Sendable, Hashable {
    /// The product id (an unknown SKU has `available` 0).
    public var sku: String
    /// Units the order asked for, ≥ 1.
    public var requested: Int
    /// Units available when the reservation was tried, ≥ 0.
    public var available: Int

    /// Creates a shortage.
    public init(sku: String, requested: Int, available: Int) {
        self.sku = sku
        self.requested = requested
        self.available = available
    }

    enum CodingKeys: String, CodingKey { case sku, requested, available }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sku = try container.contractIdentifier(.sku)
        requested = try container.contractInteger(.requested, minimum: 1)
        available = try container.contractInteger(.available, minimum: 0)
    }
}
