/// The order aggregate root: its lines, shipping address, status and total.
///
/// Rules: items change only while ``OrderStatus/pending``; adding a product
/// that is already a line increases that line's quantity; all lines share the order's
/// currency; ``total`` is always the sum of the line totals (kept up to date by every change,
/// so overflow is reported when the item is added); an empty order cannot be confirmed.
/// Status changes follow ``OrderStatus/canTransition(to:reason:)``. Transition methods are
/// idempotent: repeating the transition to the current status returns `false` and changes
/// nothing, so a redelivered event is harmless. A forbidden transition throws
/// ``DomainError/Code/invalidTransition`` (for example a late `payment.succeeded` for a
/// cancelled order: the caller keeps the order cancelled; the payment worker refunds).
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
    /// Where the order stands in its saga.
    public private(set) var status: OrderStatus
    /// Why the order was cancelled or rejected; `nil` otherwise.
    public private(set) var outcomeReason: OrderOutcomeReason?
    /// The sum of the line totals (before discounts and shipping; see ``Pricing``).
    public private(set) var total: Money

    /// Creates a pending order, merging lines of the same product.
    /// - Throws: ``DomainError/Code/currencyMismatch``, ``DomainError/Code/conflictingItem``,
    ///   ``DomainError/Code/overflow``.
    public init(
        id: String, customerID: String, currency: Currency = .krw, shippingAddress: Address,
        items: [OrderItem] = []
    ) throws(DomainError) {
        try self.init(
            id: id, customerID: customerID, currency: currency, shippingAddress: shippingAddress, items: items,
            status: .pending, outcomeReason: nil)
    }

    /// Restores an order in any status, as read back from storage.
    /// - Throws: as ``init(id:customerID:currency:shippingAddress:items:)``.
    public init(
        id: String, customerID: String, currency: Currency, shippingAddress: Address, items: [OrderItem],
        status: OrderStatus, outcomeReason: OrderOutcomeReason?
    ) throws(DomainError) {
        self.id = id
        self.customerID = customerID
        self.currency = currency
        self.shippingAddress = shippingAddress
        self.items = []
        self.status = .pending
        self.outcomeReason = nil
        self.total = .zero(currency)
        for item in items { try add(item) }
        self.status = status
        self.outcomeReason = outcomeReason
    }

    /// Whether the order has no lines.
    public var isEmpty: Bool { items.isEmpty }

    // MARK: Items

    /// Adds a line, or increases the quantity of the line with the same product id.
    /// - Throws: ``DomainError/Code/orderNotPending``, ``DomainError/Code/currencyMismatch``,
    ///   ``DomainError/Code/conflictingItem`` (same product, different price or name),
    ///   ``DomainError/Code/overflow``.
    public mutating func add(_ item: OrderItem) throws(DomainError) {
        try requireEditable()
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
    /// - Throws: ``DomainError/Code/orderNotPending``, ``DomainError/Code/itemNotFound``.
    public mutating func removeItem(productID: String) throws(DomainError) {
        try requireEditable()
        guard let index = items.firstIndex(where: { $0.productID == productID }) else {
            throw DomainError(.itemNotFound, "no line for product \(productID)")
        }
        let removed = try items[index].lineTotal()
        items.remove(at: index)
        total = try total.subtracting(removed)
    }

    /// Changes the shipping address.
    /// - Throws: ``DomainError/Code/orderNotPending``.
    public mutating func changeShippingAddress(_ address: Address) throws(DomainError) {
        try requireEditable()
        shippingAddress = address
    }

    // MARK: Status machine

    /// Records that stock for every line is reserved.
    /// - Returns: `false` when the order was already past this step (a stale event).
    /// - Throws: ``DomainError/Code/invalidTransition`` when the order is cancelled or rejected.
    @discardableResult
    public mutating func markStockReserved() throws(DomainError) -> Bool {
        switch status {
        case .stockReserved, .confirmed: return false
        default: return try move(to: .stockReserved, reason: nil)
        }
    }

    /// Confirms the order (payment succeeded).
    /// - Returns: `false` when it was already confirmed.
    /// - Throws: ``DomainError/Code/emptyOrder``, ``DomainError/Code/invalidTransition`` (from
    ///   `CANCELLED` or `REJECTED`).
    @discardableResult
    public mutating func confirm() throws(DomainError) -> Bool {
        guard status != .confirmed else { return false }
        guard !items.isEmpty else { throw DomainError(.emptyOrder, "an empty order cannot be confirmed") }
        return try move(to: .confirmed, reason: nil)
    }

    /// Cancels the order for `reason`.
    /// - Returns: `false` when it was already cancelled (the first reason is kept).
    /// - Throws: ``DomainError/Code/invalidTransition``: from `REJECTED`; from `CONFIRMED` unless
    ///   the reason is ``OrderOutcomeReason/customerRequest``; with reason `invalid_order`.
    @discardableResult
    public mutating func cancel(reason: OrderOutcomeReason) throws(DomainError) -> Bool {
        guard status != .cancelled else { return false }
        return try move(to: .cancelled, reason: reason)
    }

    /// Rejects the order (the command was invalid). Only a pending order can be rejected.
    /// - Returns: `false` when it was already rejected.
    /// - Throws: ``DomainError/Code/invalidTransition``.
    @discardableResult
    public mutating func reject() throws(DomainError) -> Bool {
        guard status != .rejected else { return false }
        return try move(to: .rejected, reason: .invalidOrder)
    }

    private mutating func move(to next: OrderStatus, reason: OrderOutcomeReason?) throws(DomainError) -> Bool {
        guard status.canTransition(to: next, reason: reason) else {
            let why = reason.map { " (\($0.rawValue))" } ?? ""
            throw DomainError(
                .invalidTransition, "order \(id) cannot go from \(status.rawValue) to \(next.rawValue)\(why)")
        }
        status = next
        if next == .cancelled || next == .rejected { outcomeReason = reason }
        return true
    }

    private func requireEditable() throws(DomainError) {
        guard status.isEditable else {
            throw DomainError(.orderNotPending, "order \(id) is \(status.rawValue); items change only while PENDING")
        }
    }
}
