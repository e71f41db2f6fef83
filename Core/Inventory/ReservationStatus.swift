/// Where an order stands in the stock worker's `reservations` table (docs/saga.md).
public enum ReservationStatus: String, Sendable, Hashable, CaseIterable {
    /// Every line is held (`available` → `reserved`).
    case reserved
    /// The order was confirmed: its units left the stock (`reserved` → `sold`).
    case sold
    /// Returned to stock after a payment failure or a cancel (from `reserved` or `sold`); final.
    case released
    /// A line could not be reserved, so nothing was; final.
    case rejected
    /// The tombstone: the order was cancelled before it was ever reserved, so a late
    /// `order.placed` reserves nothing. Its lines are empty; final.
    case cancelled
}
