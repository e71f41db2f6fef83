import CommerceMessages
import Foundation
import Postgres

/// One order as an operator reads it from the order-worker's `orders` table: the read model of
/// `commerce order show` and `commerce order list` (docs/operations.md, "The `commerce` tool"). The payment token is
/// left out: it is a credential of the customer's card, not something an operator needs to read.
///
/// Read-only. Every query of `orders` made for an operator is here, beside the handler that
/// writes the table.
public struct OrderView: Sendable, Hashable {
    /// `orders.order_id`.
    public var orderID: String
    /// `orders.status`, as stored.
    public var status: String
    /// `orders.reason`: why the order was rejected or cancelled.
    public var reason: String?
    public var customer: Customer?
    public var currency: String?
    /// The order's lines; empty for a tombstone.
    public var lines: [OrderLine]
    public var shippingAddress: ShippingAddress?
    public var couponCode: String?
    public var amounts: PriceBreakdown?
    /// Why the order was rejected by validation, when it was.
    public var violations: [Violation]?
    /// Set once the order was confirmed.
    public var paymentID: String?
    /// When the row was inserted, to the microsecond.
    public var createdAt: Date
    /// When the row last changed.
    public var updatedAt: Date

    /// The columns ``init(row:)`` reads, for `select` lists.
    static let columns = """
        order_id, status, reason, customer::text as customer, currency, lines::text as lines,
        address::text as address, coupon_code, amounts::text as amounts, violations::text as violations,
        payment_id, (extract(epoch from created_at) * 1000000)::bigint as created_us,
        (extract(epoch from updated_at) * 1000000)::bigint as updated_us
        """

    init(row: PostgresRow) throws {
        func json<Value: Decodable>(_ type: Value.Type, _ column: String) throws -> Value? {
            guard let text = try row.text(column) else { return nil }
            return try JSONDecoder().decode(Value.self, from: Data(text.utf8))
        }
        orderID = try row.string("order_id")
        status = try row.string("status")
        reason = try row.text("reason")
        customer = try json(Customer.self, "customer")
        currency = try row.text("currency")
        lines = try json([OrderLine].self, "lines") ?? []
        shippingAddress = try json(ShippingAddress.self, "address")
        couponCode = try row.text("coupon_code")
        amounts = try json(PriceBreakdown.self, "amounts")
        violations = try json([Violation].self, "violations")
        paymentID = try row.text("payment_id")
        createdAt = Date(timeIntervalSince1970: Double(try row.int("created_us")) / 1e6)
        updatedAt = Date(timeIntervalSince1970: Double(try row.int("updated_us")) / 1e6)
    }

    /// Whether `database` has the `orders` table (the order-worker's migration or `commerce setup`
    /// created it).
    /// - Throws: `PostgresError` when the database cannot be queried.
    public static func tableExists(in database: PostgresConnection) throws -> Bool {
        try database.query("select to_regclass('orders') is not null as present").rows[0].bool("present")
    }

    /// The order `orderID`, or `nil` when the database has no such order.
    /// - Throws: `PostgresError` when the table cannot be read, or a decoding error when a column
    ///   does not hold what the order-worker writes.
    public static func read(_ orderID: String, from database: PostgresConnection) throws -> OrderView? {
        try database.query("select \(columns) from orders where order_id = $1", [.text(orderID)]).rows.first
            .map(OrderView.init(row:))
    }

    /// The orders placed since `since` (every order when `nil`), with status `status` when given,
    /// newest first (ties by order id), at most `limit`.
    /// - Throws: `PostgresError` when the table cannot be read, or a decoding error when a column
    ///   does not hold what the order-worker writes.
    public static func list(status: String?, since: Date?, limit: Int, from database: PostgresConnection) throws
        -> [OrderView]
    {
        try database.query(
            """
            select \(columns) from orders
            where ($1 = '' or status = $1) and created_at >= to_timestamp($2)
            order by created_at desc, order_id limit $3
            """,
            [.text(status ?? ""), .double(since?.timeIntervalSince1970 ?? 0), .int(Int64(limit))]
        ).rows.map(OrderView.init(row:))
    }

    /// The stored status of each of `orderIDs` that the table has (an unknown id is absent).
    /// - Throws: `PostgresError` when the table cannot be read.
    public static func statuses(of orderIDs: [String], from database: PostgresConnection) throws -> [String: String] {
        var statuses: [String: String] = [:]
        for row in try database.query(
            "select order_id, status from orders where order_id = any($1::text[])", [.textArray(orderIDs)]
        ).rows {
            statuses[try row.string("order_id")] = try row.string("status")
        }
        return statuses
    }
}
