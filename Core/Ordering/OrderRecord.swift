import CommerceDomain
import CommerceMessages
import Foundation
import Postgres
import WorkerRuntime

/// One row of the `orders` table as the handler reads it back (docs/saga.md: the order-worker
/// keeps the order's status, lines, price breakdown and reason).
///
/// A tombstone (an `order.cancel` that arrived before its `order.place`) has status `CANCELLED`,
/// no lines, no content hash and none of the command's data.
struct OrderRecord: Hashable, Sendable {
    var orderID: String
    var status: OrderStatus
    var reason: OrderOutcomeReason?
    var customer: Customer?
    var currency: Currency?
    var lines: [OrderLine]
    var shippingAddress: ShippingAddress?
    var amounts: PriceBreakdown?
    /// SHA-256 (hex) of the canonical `order.place` body; `nil` for a tombstone.
    var contentHash: String?

    /// The columns ``init(row:)`` reads, for `select` lists.
    static let columns =
        "order_id, status, reason, customer::text as customer, currency, lines::text as lines, "
        + "address::text as address, amounts::text as amounts, content_hash"

    /// Whether this row stands for a cancel that came before its order.
    var isTombstone: Bool { contentHash == nil }

    /// Reads a row selected with ``columns``.
    /// - Throws: `PostgresError` or a decoding error when a column does not hold what this worker
    ///   wrote.
    init(row: PostgresRow) throws {
        orderID = try row.string("order_id")
        let statusText = try row.string("status")
        guard let status = OrderStatus(rawValue: statusText) else {
            throw PostgresError(code: .typeMismatch, message: "orders.status '\(statusText)' is not an order status")
        }
        self.status = status
        reason = try row.text("reason").flatMap(OrderOutcomeReason.init(rawValue:))
        customer = try Self.json(Customer.self, row.text("customer"))
        currency = try row.text("currency").map { code in try Currency(code) }
        lines = try Self.json([OrderLine].self, row.text("lines")) ?? []
        shippingAddress = try Self.json(ShippingAddress.self, row.text("address"))
        amounts = try Self.json(PriceBreakdown.self, row.text("amounts"))
        contentHash = try row.text("content_hash")
    }

    private static func json<Value: Decodable>(_ type: Value.Type, _ text: String?) throws -> Value? {
        guard let text else { return nil }
        return try JSONDecoder().decode(Value.self, from: Data(text.utf8))
    }

    /// The `order.confirmed` of this order, paid by `paymentID`.
    /// - Throws: ``Incomplete`` when the row lacks the command's data (it cannot for an order that
    ///   was placed).
    func confirmed(paymentID: String) throws -> OrderConfirmed {
        let (customer, currency, address, amounts) = try placedData()
        return OrderConfirmed(
            orderID: orderID, customer: customer, currency: currency, lines: lines, shippingAddress: address,
            amounts: amounts, paymentID: paymentID)
    }

    /// The `order.cancelled` of this order.
    func cancelled(reason: OrderOutcomeReason, message: String, previousStatus: OrderStatus) throws -> OrderCancelled {
        let (customer, currency, _, amounts) = try placedData()
        return OrderCancelled(
            orderID: orderID, customer: customer, currency: currency, amounts: amounts, reason: reason,
            message: message, previousStatus: previousStatus)
    }

    private func placedData() throws -> (Customer, Currency, ShippingAddress, PriceBreakdown) {
        guard let customer, let currency, let shippingAddress, let amounts else {
            throw Incomplete(orderID: orderID)
        }
        return (customer, currency, shippingAddress, amounts)
    }

    /// A row without the data of a placed order was asked for an event only a placed order has.
    /// Permanent: the row will not grow the data on a retry.
    struct Incomplete: ClassifiedError, CustomStringConvertible {
        var orderID: String
        var failureClass: FailureClass { .permanent }
        var failureReason: String { "incomplete_order" }
        var description: String { "order \(orderID) has no stored customer, currency, address or amounts" }
    }
}
