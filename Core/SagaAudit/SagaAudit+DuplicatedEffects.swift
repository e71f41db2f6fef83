import Postgres

extension SagaAudit {
    /// An effect that happened more than once for one order: a second capture or refund in the
    /// payments ledger, or a second stock movement of one kind for one order and SKU. Each is a
    /// message handled twice with its effect applied twice, which the inbox exists to prevent.
    public struct DuplicatedEffect: Sendable, Hashable, CustomStringConvertible {
        /// The service whose store holds the copies: `payments` or `inventory`.
        public var service: String
        public var orderID: String
        /// The ledger entry's or movement's kind (`capture`, `refund`, `reserve`, …).
        public var kind: String
        /// The SKU of a stock movement; `nil` for a payment.
        public var sku: String?
        /// How many times the effect is recorded (2 or more).
        public var count: Int

        /// Creates the report of one effect recorded `count` times.
        public init(service: String, orderID: String, kind: String, sku: String?, count: Int) {
            self.service = service
            self.orderID = orderID
            self.kind = kind
            self.sku = sku
            self.count = count
        }

        public var description: String {
            if let sku {
                "\(service): order \(orderID) has \(count) \(kind) movements of \(sku)"
            } else {
                "\(service): order \(orderID) has \(count) \(kind) entries"
            }
        }
    }

    /// Payment ledger entries of one kind recorded more than once for an order (`payment_ledger`).
    /// - Throws: `PostgresError` when the payments database cannot be read.
    public static func duplicatedPayments(_ payments: PostgresConnection) throws -> [DuplicatedEffect] {
        try payments.query(
            """
            select order_id, kind, count(*) as n from payment_ledger
            group by order_id, kind having count(*) > 1 order by order_id, kind
            """
        ).rows.map { row in
            DuplicatedEffect(
                service: "payments", orderID: try row.string("order_id"), kind: try row.string("kind"), sku: nil,
                count: Int(try row.int("n")))
        }
    }

    /// Stock movements of one kind recorded more than once for an order and SKU
    /// (`stock_movements`; an operator's `adjust`, which has no order, is never one).
    /// - Throws: `PostgresError` when the inventory database cannot be read.
    public static func duplicatedStockMovements(_ inventory: PostgresConnection) throws -> [DuplicatedEffect] {
        try inventory.query(
            """
            select order_id, sku, kind, count(*) as n from stock_movements where order_id is not null
            group by order_id, sku, kind having count(*) > 1 order by order_id, sku, kind
            """
        ).rows.map { row in
            DuplicatedEffect(
                service: "inventory", orderID: try row.string("order_id"), kind: try row.string("kind"),
                sku: try row.string("sku"), count: Int(try row.int("n")))
        }
    }
}
