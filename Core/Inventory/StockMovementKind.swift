/// A kind of row in the `stock_movements` ledger, and which of a SKU's counters it moves units
/// between. Quantities in the ledger are positive; the kind gives the direction.
public enum StockMovementKind: String, Sendable, Hashable, CaseIterable {
    /// `available` → `reserved`, for an order.
    case reserve
    /// `reserved` → `available`: a payment failure or a cancel before confirmation.
    case release
    /// `reserved` → `sold`: the order was confirmed.
    case sell
    /// `sold` → `available`: a confirmed order was cancelled.
    case restock
    /// Units entering (or, negative, leaving) `available` from outside the saga: seeding, a count.
    case adjust

    /// One of a SKU's counters (a column of `stock`).
    public enum Counter: String, Sendable, Hashable, CaseIterable {
        case available, reserved, sold
    }

    /// The counter the units leave; `nil` for ``adjust``, whose units come from outside.
    public var source: Counter? {
        switch self {
        case .reserve: .available
        case .release, .sell: .reserved
        case .restock: .sold
        case .adjust: nil
        }
    }

    /// The counter the units join.
    public var destination: Counter {
        switch self {
        case .reserve: .reserved
        case .release, .restock, .adjust: .available
        case .sell: .sold
        }
    }
}
