import CommerceMessages
import Foundation
import Ordering

/// One order as the order-worker stored it (``Ordering/OrderView``), as a report: what `commerce
/// order show` prints above the saga's timeline.
public struct OrderDetails: Encodable, Sendable {
    public var orderId: String
    public var status: String
    public var reason: String?
    public var customer: Customer?
    public var currency: String?
    public var lines: [OrderLine]
    public var shippingAddress: ShippingAddress?
    public var couponCode: String?
    public var amounts: PriceBreakdown?
    public var violations: [Violation]?
    public var paymentId: String?
    /// ISO 8601, to the millisecond (in the JSON report).
    public var createdAt: String
    public var updatedAt: String
    /// The same times, for the text report.
    public var created: Date
    public var updated: Date

    private enum CodingKeys: String, CodingKey {
        case orderId, status, reason, customer, currency, lines, shippingAddress, couponCode, amounts, violations
        case paymentId, createdAt, updatedAt
    }
}

extension OrderDetails {
    /// The report of `view`, the order as ``Ordering/OrderView`` reads it.
    public init(_ view: OrderView) {
        self.init(
            orderId: view.orderID, status: view.status, reason: view.reason, customer: view.customer,
            currency: view.currency, lines: view.lines, shippingAddress: view.shippingAddress,
            couponCode: view.couponCode, amounts: view.amounts, violations: view.violations,
            paymentId: view.paymentID, createdAt: Timestamp.iso8601(view.createdAt),
            updatedAt: Timestamp.iso8601(view.updatedAt), created: view.createdAt, updated: view.updatedAt)
    }
}
