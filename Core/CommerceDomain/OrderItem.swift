/// One line of an ``Order``: a product, how many, and at what unit price.
public struct OrderItem: Hashable, Sendable {
    /// The product id (the SKU in the message contract).
    public let productID: String
    /// The product's display name.
    public let name: String
    /// How many units; always `> 0`.
    public let quantity: Int
    /// The price of one unit.
    public let unitPrice: Money

    /// Creates a line.
    /// - Throws: ``DomainError/Code/invalidQuantity`` when `quantity <= 0`.
    public init(productID: String, name: String, quantity: Int, unitPrice: Money) throws(DomainError) {
        guard quantity > 0 else {
            throw DomainError(.invalidQuantity, "quantity must be > 0, got \(quantity)", field: "quantity")
        }
        self.productID = productID
        self.name = name
        self.quantity = quantity
        self.unitPrice = unitPrice
    }

    /// `unitPrice × quantity`.
    /// - Throws: ``DomainError/Code/overflow``.
    public func lineTotal() throws(DomainError) -> Money {
        try unitPrice.multiplied(by: quantity)
    }

    /// The same line with `quantity` more units (adding an existing product merges into its line).
    /// - Throws: ``DomainError/Code/invalidQuantity`` or ``DomainError/Code/overflow``.
    public func increased(by extra: Int) throws(DomainError) -> OrderItem {
        let (sum, overflow) = quantity.addingReportingOverflow(extra)
        guard !overflow else { throw DomainError(.overflow, "quantity \(quantity) + \(extra) overflows") }
        return try OrderItem(productID: productID, name: name, quantity: sum, unitPrice: unitPrice)
    }
}
