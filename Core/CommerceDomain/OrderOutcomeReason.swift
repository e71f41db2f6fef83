/// Why an order ended `CANCELLED` or `REJECTED`, in the contract's machine-readable words.
///
/// The raw values are the `reason` strings of the message contract (README.md, "The message contract"). Adding a
/// case is a contract change: strict readers reject values they do not know.
public enum OrderOutcomeReason: String, CaseIterable, Hashable, Sendable, Codable {
    /// A line could not be reserved (`stock.rejected`).
    case outOfStock = "out_of_stock"
    /// The payment gateway declined the charge (`payment.failed`).
    case paymentDeclined = "payment_declined"
    /// The customer asked to cancel (`order.cancel`).
    case customerRequest = "customer_request"
    /// The saga did not finish before its deadline.
    case timeout = "timeout"
    /// The `order.place` command failed validation (`order.rejected`).
    case invalidOrder = "invalid_order"
}
