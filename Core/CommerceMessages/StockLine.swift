/// A SKU and a quantity, as reserved or released by the stock worker (`lines` of
/// `stock.reserved` and `stock.released`). The quantity is at least 1.
public struct StockLine: Codable, Sendable, Hashable {
    /// The product id.
    public var sku: String
    /// Units reserved or released, ≥ 1.
    public var quantity: Int

    /// Creates a line.
    public init(sku: String, quantity: Int) {
        self.sku = sku
        self.quantity = quantity
    }

    enum CodingKeys: String, CodingKey { case sku, quantity }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        sku = try container.contractIdentifier(.sku)
        quantity = try container.contractInteger(.quantity, minimum: 1)
    }
}
