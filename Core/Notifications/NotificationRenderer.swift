import CommerceDomain
import CommerceMessages
import Foundation

/// Writes the customer notification of an event: pure, no I/O, no clock, so the same event
/// always gives the same text (a redelivery renders what the first delivery rendered).
///
/// Every event but `payment.refunded` carries the customer, so its notification is an email to
/// `customer.email` (an `order.rejected` whose command's customer was unreadable has none, and is
/// recorded like `payment.refunded`'s). `payment.refunded` names no customer and the worker reads no other store
/// (docs/saga.md), so its notification has channel ``NotificationChannel/none`` and no
/// recipient: it is still recorded, so that the audit sees one notification per event and
/// support can find it by order id beside the order's `order.cancelled` email.
public struct NotificationRenderer: Sendable {
    /// Creates a renderer.
    public init() {}

    /// The notification of `message`, or `nil` when the type is not one the notification worker
    /// is bound to.
    public func render(_ message: AnyMessage) -> CustomerNotification? {
        switch message {
        case .orderConfirmed(let confirmed): render(confirmed)
        case .orderCancelled(let cancelled): render(cancelled)
        case .orderRejected(let rejected): render(rejected)
        case .paymentRefunded(let refunded): render(refunded)
        default: nil
        }
    }

    /// `order.confirmed`: the order is accepted and its total charged; it names the shipping
    /// address on one line (``Address/fullAddress``), so the customer can check it.
    public func render(_ event: OrderConfirmed) -> CustomerNotification {
        let total = AmountFormatter.format(event.amounts.total, currency: event.currency.code)
        let units = event.lines.reduce(0) { $0 + $1.quantity }
        let items = units == 1 ? "1 item" : "\(units) items"
        let body = """
            Thank you for your order. Order \(event.orderID) (\(items)) is confirmed and we have charged \(total) \
            (payment \(event.paymentID)). It will ship to \(event.shippingAddress.address.fullAddress).
            """
        return CustomerNotification(
            orderID: event.orderID, eventType: .orderConfirmed, channel: .email, recipient: event.customer.email,
            subject: "Your order \(event.orderID) is confirmed", body: body, amount: event.amounts.total,
            currency: event.currency.code, reason: nil)
    }

    /// `order.cancelled`: why, and that whatever was charged comes back.
    public func render(_ event: OrderCancelled) -> CustomerNotification {
        let total = AmountFormatter.format(event.amounts.total, currency: event.currency.code)
        // Only a confirmed order was surely charged; before confirmation a charge may still be in
        // flight (docs/saga.md, "Compensations"), and it is refunded as well.
        let money =
            event.previousStatus == .confirmed
            ? "The \(total) you paid will be refunded in full."
            : "If you were charged \(total), it will be refunded in full."
        let body = """
            Order \(event.orderID) was cancelled because \(Self.words(for: event.reason)).\
            \(Self.details(event.message)) \(money)
            """
        return CustomerNotification(
            orderID: event.orderID, eventType: .orderCancelled, channel: .email, recipient: event.customer.email,
            subject: "Your order \(event.orderID) was cancelled", body: body, amount: event.amounts.total,
            currency: event.currency.code, reason: event.reason)
    }

    /// `order.rejected`: the order broke a rule; every violation is listed. Nothing was charged.
    public func render(_ event: OrderRejected) -> CustomerNotification {
        var body = """
            We could not accept order \(event.orderID) because \(Self.words(for: event.reason)).\
            \(Self.details(event.message)) Nothing was charged.
            """
        let problems = event.violations.map(\.message).filter { !$0.isEmpty }
        if !problems.isEmpty {
            body += "\n\nWhat to fix:\n" + problems.map { "- \($0)" }.joined(separator: "\n")
        }
        return CustomerNotification(
            orderID: event.orderID, eventType: .orderRejected, channel: event.customer == nil ? .none : .email,
            recipient: event.customer?.email, subject: "We could not accept your order \(event.orderID)", body: body,
            amount: event.amounts?.total, currency: event.currency?.code, reason: event.reason)
    }

    /// `payment.refunded`: no customer in the event, so no recipient (see the type's docs).
    public func render(_ event: PaymentRefunded) -> CustomerNotification {
        let amount = AmountFormatter.format(event.amount, currency: event.currency.code)
        let body = """
            We have refunded \(amount) for order \(event.orderID) (payment \(event.paymentID)) because the order \
            was cancelled: \(Self.words(for: event.reason)).
            """
        return CustomerNotification(
            orderID: event.orderID, eventType: .paymentRefunded, channel: .none, recipient: nil,
            subject: "Refund of \(amount) for order \(event.orderID)", body: body, amount: event.amount,
            currency: event.currency.code, reason: event.reason)
    }

    /// The reason in words, to follow "because".
    public static func words(for reason: OrderOutcomeReason) -> String {
        switch reason {
        case .outOfStock: "some items are out of stock"
        case .paymentDeclined: "the payment was declined"
        case .customerRequest: "you asked us to cancel it"
        case .timeout: "it could not be completed in time"
        case .invalidOrder: "the order is not valid"
        }
    }

    /// The event's own explanation as a sentence of its own, or nothing when it is blank.
    private static func details(_ message: String) -> String {
        let text = message.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return "" }
        let ending = text.last.map { ".!?".contains($0) } ?? false ? "" : "."
        return " Details: \(text)\(ending)"
    }
}
