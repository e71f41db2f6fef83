import Postgres

/// Reads the payment worker's ledger for the saga's audit (docs/saga.md, "Invariants"): a
/// CONFIRMED order has exactly its amount captured net, a CANCELLED or REJECTED one nothing.
public enum PaymentsAudit {
    /// Per order: captures − refunds, in minor units.
    public static let netCapturedQuery = """
        select order_id,
               coalesce(sum(case kind when 'capture' then amount else -amount end), 0)::bigint as net
        from payment_ledger group by order_id
        """

    /// The net captured amount (captures − refunds) of every order with a ledger row, by order
    /// id, read from the payment worker's database.
    public static func netCaptured(_ database: PostgresConnection) throws -> [String: Int] {
        var net: [String: Int] = [:]
        for row in try database.query(netCapturedQuery).rows {
            net[try row.string("order_id")] = Int(try row.int("net"))
        }
        return net
    }
}
