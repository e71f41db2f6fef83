import CommerceDomain

/// One order's row of `payments`: what the payment worker did for it (docs/saga.md,
/// payment-worker). ``PaymentStore`` reads and writes it.
struct PaymentRecord: Sendable, Hashable {
    /// `payments.status`.
    enum Status: String, Sendable, Hashable {
        /// Charged; `payment.succeeded` was emitted.
        case captured
        /// The card was declined; `payment.failed` was emitted.
        case declined
        /// Charged, then refunded in full; `payment.refunded` was emitted.
        case refunded
        /// The tombstone: the order was cancelled before any charge, so none will be made.
        case cancelled
        /// Charged after the order was cancelled, and not refunded yet.
        case refundDue = "refund_due"
    }

    var status: Status
    var paymentID: String?
    var amount: Int
    var currency: Currency
    var declineCode: String?
}
