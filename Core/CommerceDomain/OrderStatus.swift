/// Where an ``Order`` stands in its saga.
///
/// ```
/// PENDING ──▶ STOCK_RESERVED ──▶ CONFIRMED ──(customer_request)──▶ CANCELLED
///    │  ╲            │                                                ▲
///    │   ╲───────────┼──────────────▶ CONFIRMED (payment may be seen  │
///    │               │                before stock.reserved)          │
///    ├───────────────┴───────────────▶ CANCELLED (any reason but invalid_order)
///    └──────────────────────────────▶ REJECTED (invalid_order)
/// ```
/// `CONFIRMED`, `CANCELLED` and `REJECTED` are terminal for the saga; the only way out of
/// `CONFIRMED` is a customer's cancellation (refund and restock follow).
/// Raw values are the upper-case names stored by the order worker.
public enum OrderStatus: String, CaseIterable, Hashable, Sendable, Codable {
    /// Accepted and priced; waiting for stock and payment.
    case pending = "PENDING"
    /// Stock for every line is reserved; waiting for payment.
    case stockReserved = "STOCK_RESERVED"
    /// Paid and stock sold.
    case confirmed = "CONFIRMED"
    /// Ended without a net charge; see ``Order/outcomeReason``.
    case cancelled = "CANCELLED"
    /// The command was invalid; nothing was reserved or charged.
    case rejected = "REJECTED"

    /// Whether the saga of an order in this status is over.
    public var isTerminal: Bool {
        switch self {
        case .confirmed, .cancelled, .rejected: true
        case .pending, .stockReserved: false
        }
    }

    /// Whether an order in this status may still be changed (items added or removed).
    public var isEditable: Bool { self == .pending }

    /// Whether the status machine allows `self → next` for `reason` (the reason matters only
    /// for `CANCELLED` and `REJECTED`). Staying in the same status is not a transition.
    public func canTransition(to next: OrderStatus, reason: OrderOutcomeReason? = nil) -> Bool {
        switch (self, next) {
        case (.pending, .stockReserved), (.pending, .confirmed), (.stockReserved, .confirmed):
            return true
        case (.pending, .cancelled), (.stockReserved, .cancelled):
            return reason != nil && reason != .invalidOrder
        case (.confirmed, .cancelled):
            return reason == .customerRequest
        case (.pending, .rejected):
            return reason == nil || reason == .invalidOrder
        default:
            return false
        }
    }
}
