/// The statuses of an order: what the order-worker stores in `orders.status`, and the words of
/// the contract's `order.cancelled` `previous_status`.
///
/// The transitions between them are decided by one state machine, `OrderSagaState` (module
/// `Ordering`), whose diagram is in docs/saga.md ("The order's states"). `CONFIRMED`, `CANCELLED`
/// and `REJECTED` are terminal for the saga; the only way out of `CONFIRMED` is a customer's
/// cancellation (refund and restock follow). Raw values are the upper-case names of the contract.
public enum OrderStatus: String, CaseIterable, Hashable, Sendable, Codable {
    /// Accepted and priced; waiting for stock and payment.
    case pending = "PENDING"
    /// Stock for every line is reserved; waiting for payment. The contract names this status (an
    /// `order.cancelled` may carry it as `previous_status`), but the order-worker never stores it:
    /// `stock.reserved` leaves an order `PENDING`, and `OrderSagaState` decides for an order read
    /// back in it as for a `PENDING` one.
    case stockReserved = "STOCK_RESERVED"
    /// Paid and stock sold.
    case confirmed = "CONFIRMED"
    /// Ended without a net charge; `orders.reason` says why.
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
}
