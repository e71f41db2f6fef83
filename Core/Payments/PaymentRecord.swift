import CommerceDomain
import WorkerRuntime

/// One order's row of `payments`: what the payment worker did for it (docs/saga.md,
/// payment-worker).
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

    /// The order's row, locked until the batch's transaction ends, or `nil` if there is none.
    static func lock(_ orderID: String, in database: HandlerDatabase) throws -> PaymentRecord? {
        let result = try database.query(
            "select status, payment_id, amount, currency, decline_code from payments where order_id = $1 for update",
            [.text(orderID)])
        guard let row = result.rows.first else { return nil }
        let status = try row.string("status")
        guard let known = Status(rawValue: status) else {
            throw HandlingFailure.permanent("unknown_payment_status", "order \(orderID) has payment status '\(status)'")
        }
        let code = try row.string("currency")
        let currency: Currency
        do {
            currency = try Currency(code)
        } catch {
            throw HandlingFailure.permanent("invalid_data", "order \(orderID) has payment currency '\(code)'")
        }
        return PaymentRecord(
            status: known, paymentID: try row.text("payment_id"), amount: Int(try row.int("amount")),
            currency: currency, declineCode: try row.text("decline_code"))
    }
}
