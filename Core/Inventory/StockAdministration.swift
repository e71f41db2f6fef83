import Postgres
import WorkerRuntime

/// What an operator does to the stock (`commerce stock set`, `commerce stock import`): set SKUs'
/// available units, keeping the `stock_movements` ledger consistent with the counters
/// (docs/saga.md, invariant 4): every change of `available` is an `adjust` movement of the
/// difference, made under the SKU's row lock, so the ledger keeps adding up while the
/// stock-worker runs. Units reserved or sold are never touched.
public enum StockAdministration {
    /// One SKU's change by ``set(_:on:)``.
    public struct Change: Codable, Sendable, Hashable {
        /// The product id.
        public var sku: String
        /// The display name given with the seed (not stored).
        public var name: String?
        /// Units available before; `nil` when the SKU was not stocked.
        public var previous: Int?
        /// Units available now.
        public var available: Int
        /// The `adjust` movement recorded (0: none).
        public var adjustment: Int
    }

    /// Sets each SKU's available units to its quantity in one transaction: inserts missing SKUs,
    /// locks the rows in sorted order (as the stock-worker does), and records one `adjust`
    /// movement per SKU whose count changes. Runs the stock-worker's migration first (under the
    /// runtime's lock), so that a fresh database works. Blocks on `database`'s thread.
    /// - Returns: one change per entry, sorted by SKU.
    /// - Throws: `PostgresError` when the database refuses a statement; nothing is changed then.
    public static func set(_ entries: [StockSeed], on database: PostgresConnection) throws -> [Change] {
        try RuntimeSchema.migrate(database) { try StockHandler().migrate($0) }
        let sorted = entries.sorted { $0.sku < $1.sku }
        let skus = PostgresValue.textArray(sorted.map(\.sku))
        return try database.transaction { tx in
            let inserted = try tx.query(
                """
                insert into stock (sku, available, reserved, sold)
                select sku, 0, 0, 0 from unnest($1::text[]) as t(sku)
                on conflict (sku) do nothing
                returning sku
                """, [skus])
            let new = Set(try inserted.rows.map { try $0.string("sku") })
            let locked = try tx.query(
                "select sku, available from stock where sku = any($1::text[]) order by sku for update", [skus])
            var current: [String: Int] = [:]
            for row in locked.rows { current[try row.string("sku")] = Int(try row.int("available")) }
            let changes = sorted.map { entry in
                let before = current[entry.sku] ?? 0
                return Change(
                    sku: entry.sku, name: entry.name, previous: new.contains(entry.sku) ? nil : before,
                    available: entry.quantity, adjustment: entry.quantity - before)
            }
            let moved = changes.filter { $0.adjustment != 0 }
            if !moved.isEmpty {
                let movedSKUs = PostgresValue.textArray(moved.map(\.sku))
                let deltas = PostgresValue.intArray(moved.map { Int64($0.adjustment) })
                try tx.query(
                    """
                    update stock s set available = s.available + t.delta
                    from unnest($1::text[], $2::int[]) as t(sku, delta) where s.sku = t.sku
                    """, [movedSKUs, deltas])
                try tx.query(
                    """
                    insert into stock_movements (sku, order_id, kind, quantity)
                    select t.sku, null, '\(StockMovementKind.adjust.rawValue)', t.delta
                    from unnest($1::text[], $2::int[]) as t(sku, delta)
                    """, [movedSKUs, deltas])
            }
            return changes
        }
    }

    /// Whether `database` has the `stock` table (the stock-worker's migration, `commerce setup` or
    /// ``set(_:on:)`` created it).
    /// - Throws: `PostgresError` when the database cannot be queried.
    public static func tableExists(in database: PostgresConnection) throws -> Bool {
        try database.query("select to_regclass('stock') is not null as present").rows[0].bool("present")
    }
}
