import CommerceDomain
import Postgres

/// What the orders database says about each order, for the cross-store audit of docs/saga.md
/// ("Invariants"): read-only, outside any handler.
public enum OrdersAudit {
    /// Every stored order id with its status (tombstones included, as `CANCELLED`).
    /// - Throws: `PostgresError`; a `typeMismatch` one for a status this worker never writes.
    public static func statuses(_ database: PostgresConnection) throws -> [String: OrderStatus] {
        var statuses: [String: OrderStatus] = [:]
        for row in try database.query("select order_id, status from orders").rows {
            let text = try row.string("status")
            guard let status = OrderStatus(rawValue: text) else {
                throw PostgresError(code: .typeMismatch, message: "orders.status '\(text)' is not an order status")
            }
            statuses[try row.string("order_id")] = status
        }
        return statuses
    }
}
