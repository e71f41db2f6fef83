/// The order aggregate: its lines, shipping address and total, as validated and priced when it
/// is placed.
///
/// Rules: adding a product that is already a line increases that line's quantity; all lines share
/// the order's currency; ``total`` is always the sum of the line totals (kept up to date by every
/// change, so overflow is reported when the item is added).
///
/// Where an order stands in its saga is not kept here: the order-worker stores the status, and its
/// transitions are decided by one state machine, `OrderSagaState` (module `Ordering`;
/// docs/saga.md, "The order's states").
public struct Order: Hashable, Sendable {
    /// The order id (chosen upstream; the saga's correlation id).
    public let id: String
    /// The customer (user) id.
    public let customerID: String
    /// The currency of every line and of ``total``.
    public let currency: Currency
    /// Where the order ships.
    public private(set) var shippingAddress: Address
    /// The lines, one per product, in the order they were first added.
    public private(set) var items: [OrderItem]
    /// The sum of the line totals (before discounts and shipping; see ``Pricing``).
    public private(set) var total: Money

    /// Creates an order, merging lines of the same product.
    /// - Throws: ``DomainError/Code/currencyMismatch``, ``DomainError/Code/conflictingItem``,
    ///   ``DomainError/Code/overflow``.
    public init(
        id: String, customerID: String, currency: Currency = .krw, shippingAddress: Address,
        items: [OrderItem] = []
    ) throws(DomainError) {
        self.id = id
        self.customerID = customerID
        self.currency = currency
        self.shippingAddress = shippingAddress
        self.items = []
        self.total = .zero(currency)
        for item in items { try add(item) }
    }

    /// Whether the order has no lines.
    public var isEmpty: Bool { items.isEmpty }

    // MARK: Items

    /// Adds a line, or increases the quantity of the line with the same product id.
    /// - Throws: ``DomainError/Code/currencyMismatch``, ``DomainError/Code/conflictingItem`` (same
    ///   product, different price or name), ``DomainError/Code/overflow``.
    public mutating func add(_ item: OrderItem) throws(DomainError) {
        guard item.unitPrice.currency == currency else {
            throw DomainError(
                .currencyMismatch, "line \(item.productID) is in \(item.unitPrice.currency), the order in \(currency)")
        }
        let newTotal = try total.adding(item.lineTotal())
        if let index = items.firstIndex(where: { $0.productID == item.productID }) {
            let existing = items[index]
            guard existing.unitPrice == item.unitPrice, existing.name == item.name else {
                throw DomainError(
                    .conflictingItem,
                    "product \(item.productID) is already in the order at \(existing.unitPrice) as '\(existing.name)'")
            }
            items[index] = try existing.increased(by: item.quantity)
        } else {
            items.append(item)
        }
        total = newTotal
    }

    /// Removes the line of `productID`.
    /// - Throws: ``DomainError/Code/itemNotFound``.
    public mutating func removeItem(productID: String) throws(DomainError) {
        guard let index = items.firstIndex(where: { $0.productID == productID }) else {
            throw DomainError(.itemNotFound, "no line for product \(productID)")
        }
        let removed = try items[index].lineTotal()
        items.remove(at: index)
        total = try total.subtracting(removed)
    }

    /// Changes the shipping address.
    public mutating func changeShippingAddress(_ address: Address) {
        shippingAddress = address
    }
}
