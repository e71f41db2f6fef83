import Postgres

/// Checks invariant 4 of docs/saga.md (stock is conserved and never negative) against the
/// inventory's own records: each SKU's counters must equal what its `stock_movements` ledger adds
/// up to, and what `reservations` says is held or sold. Used by the tests and `commerce audit`.
public enum InventoryAudit {
    /// One SKU as the three records see it.
    public struct Position: Sendable, Hashable {
        /// The product id.
        public var sku: String
        /// The `stock` row's counters; `nil` when the SKU has movements or reservations but no row.
        public var available: Int?
        public var reserved: Int?
        public var sold: Int?
        /// The ledger's total quantity per movement kind (absent kinds are 0).
        public var movements: [StockMovementKind: Int]
        /// Units in reservations whose status is `reserved`.
        public var heldByReservations: Int
        /// Units in reservations whose status is `sold`.
        public var soldByReservations: Int

        /// Creates a position.
        public init(
            sku: String, available: Int?, reserved: Int?, sold: Int?, movements: [StockMovementKind: Int],
            heldByReservations: Int, soldByReservations: Int
        ) {
            self.sku = sku
            self.available = available
            self.reserved = reserved
            self.sold = sold
            self.movements = movements
            self.heldByReservations = heldByReservations
            self.soldByReservations = soldByReservations
        }

        /// The counter the ledger accounts for: what entered it minus what left it.
        public func ledgerBalance(of counter: StockMovementKind.Counter) -> Int {
            StockMovementKind.allCases.reduce(0) { balance, kind in
                let quantity = movements[kind] ?? 0
                if kind.destination == counter { return balance + quantity }
                if kind.source == counter { return balance - quantity }
                return balance
            }
        }
    }

    /// A broken rule for one SKU.
    public struct Violation: Sendable, Hashable, CustomStringConvertible {
        /// The product id.
        public var sku: String
        /// What is wrong, for a person.
        public var problem: String

        /// Creates a violation.
        public init(sku: String, problem: String) {
            self.sku = sku
            self.problem = problem
        }

        public var description: String { "\(sku): \(problem)" }
    }

    /// Every rule `positions` break: a missing `stock` row, a negative counter, units not
    /// conserved (available + reserved + sold ≠ the ledger's adjustments), a counter that differs
    /// from its ledger balance, or reserved/sold counters that differ from the reservations.
    public static func violations(in positions: [Position]) -> [Violation] {
        var violations: [Violation] = []
        for position in positions {
            func report(_ problem: String) { violations.append(Violation(sku: position.sku, problem: problem)) }
            guard let available = position.available, let reserved = position.reserved, let sold = position.sold else {
                report("has movements or reservations but no stock row")
                continue
            }
            let counters: [(StockMovementKind.Counter, Int)] = [
                (.available, available), (.reserved, reserved), (.sold, sold),
            ]
            for (counter, value) in counters where value < 0 {
                report("\(counter.rawValue) is negative (\(value))")
            }
            let initial = position.movements[.adjust] ?? 0
            if available + reserved + sold != initial {
                report("available + reserved + sold = \(available + reserved + sold), adjustments total \(initial)")
            }
            for (counter, value) in counters where value != position.ledgerBalance(of: counter) {
                report("\(counter.rawValue) is \(value), the ledger says \(position.ledgerBalance(of: counter))")
            }
            if reserved != position.heldByReservations {
                report("reserved is \(reserved), reservations hold \(position.heldByReservations)")
            }
            if sold != position.soldByReservations {
                report("sold is \(sold), reservations sold \(position.soldByReservations)")
            }
        }
        return violations
    }

    /// Reads every SKU's position from the inventory database (one statement, one snapshot).
    public static func positions(on database: PostgresConnection) throws(PostgresError) -> [Position] {
        let result = try database.query(
            """
            with ledger as (
                select sku,
                    coalesce(sum(quantity) filter (where kind = 'adjust'), 0) as adjust,
                    coalesce(sum(quantity) filter (where kind = 'reserve'), 0) as reserve,
                    coalesce(sum(quantity) filter (where kind = 'release'), 0) as release,
                    coalesce(sum(quantity) filter (where kind = 'sell'), 0) as sell,
                    coalesce(sum(quantity) filter (where kind = 'restock'), 0) as restock
                from stock_movements group by sku
            ), held as (
                select line ->> 'sku' as sku,
                    coalesce(sum((line ->> 'quantity')::bigint) filter (where r.status = 'reserved'), 0) as held,
                    coalesce(sum((line ->> 'quantity')::bigint) filter (where r.status = 'sold'), 0) as sold
                from reservations r cross join jsonb_array_elements(r.lines) as line
                where r.status in ('reserved', 'sold')
                group by 1
            ), skus as (
                select sku from stock union select sku from ledger union select sku from held
            )
            select k.sku, s.available, s.reserved, s.sold,
                coalesce(l.adjust, 0) as adjust, coalesce(l.reserve, 0) as reserve,
                coalesce(l.release, 0) as release, coalesce(l.sell, 0) as sell,
                coalesce(l.restock, 0) as restock,
                coalesce(h.held, 0) as held_by_reservations, coalesce(h.sold, 0) as sold_by_reservations
            from skus k
            left join stock s on s.sku = k.sku
            left join ledger l on l.sku = k.sku
            left join held h on h.sku = k.sku
            order by k.sku
            """)
        return try result.rows.map { row throws(PostgresError) in
            var movements: [StockMovementKind: Int] = [:]
            for kind in StockMovementKind.allCases { movements[kind] = Int(try row.int(kind.rawValue)) }
            return Position(
                sku: try row.string("sku"), available: try row.optionalInt("available").map(Int.init),
                reserved: try row.optionalInt("reserved").map(Int.init),
                sold: try row.optionalInt("sold").map(Int.init),
                movements: movements, heldByReservations: Int(try row.int("held_by_reservations")),
                soldByReservations: Int(try row.int("sold_by_reservations")))
        }
    }

    /// Audits the inventory database: ``violations(in:)`` of ``positions(on:)``; empty when it holds.
    public static func run(on database: PostgresConnection) throws(PostgresError) -> [Violation] {
        violations(in: try positions(on: database))
    }
}
