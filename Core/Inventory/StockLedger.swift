import CommerceMessages
import Postgres
import WorkerRuntime

/// The stock worker's statements inside a batch's transaction: locking an order's reservation
/// and SKU rows, and moving units between counters with their ledger rows.
///
/// Reads go through `query`; writes whose results are not read are queued (`enqueue`), so they
/// travel with the next statement or the commit, in order (docs/architecture.md, "Handlers").
struct StockLedger {
    /// An order's row in `reservations`.
    struct Reservation: Hashable {
        var status: ReservationStatus
        /// What the order holds (or asked for, when rejected); one line per SKU.
        var lines: [StockLine]
    }

    let database: HandlerDatabase

    /// The order's reservation, locked until the batch commits; `nil` if the order has none.
    func lockReservation(_ orderID: String) throws -> Reservation? {
        let result = try database.query(
            """
            select r.status, line ->> 'sku' as sku, (line ->> 'quantity')::bigint as quantity
            from reservations r
            left join lateral jsonb_array_elements(r.lines) with ordinality as l(line, position) on true
            where r.order_id = $1
            order by l.position
            for update of r
            """, [.text(orderID)])
        guard let first = result.rows.first else { return nil }
        let text = try first.string("status")
        guard let status = ReservationStatus(rawValue: text) else {
            throw HandlingFailure.permanent("corrupt_reservation", "order \(orderID) has status '\(text)'")
        }
        let lines = try result.rows.compactMap { row -> StockLine? in
            guard let sku = try row.text("sku") else { return nil }
            return StockLine(sku: sku, quantity: Int(try row.int("quantity")))
        }
        return Reservation(status: status, lines: lines)
    }

    /// Inserts the order's reservation unless the order already has one; `false` when another
    /// transaction inserted one first (it committed: the insert waited for it).
    func claim(_ orderID: String, as status: ReservationStatus, lines: [StockLine]) throws -> Bool {
        let result = try database.query(
            """
            insert into reservations (order_id, status, lines)
            select $1, $2, coalesce(
                jsonb_agg(jsonb_build_object('sku', t.sku, 'quantity', t.quantity) order by t.position), '[]'::jsonb)
            from unnest($3::text[], $4::bigint[]) with ordinality as t(sku, quantity, position)
            on conflict (order_id) do nothing
            returning order_id
            """,
            [
                .text(orderID), .text(status.rawValue), .textArray(lines.map(\.sku)),
                .intArray(lines.map { Int64($0.quantity) }),
            ])
        return !result.rows.isEmpty
    }

    /// The order's reservation locked, or `nil` once this transaction has inserted `claim` as the
    /// order's reservation. Locking first serves the usual case (the row exists) in one statement;
    /// the insert settles a race with a copy that creates the row meanwhile.
    func reservation(
        of orderID: String, claimingAs status: ReservationStatus, lines: [StockLine] = []
    ) throws -> Reservation? {
        if let existing = try lockReservation(orderID) { return existing }
        if try claim(orderID, as: status, lines: lines) { return nil }
        guard let existing = try lockReservation(orderID) else {
            // The other transaction's row vanished: nothing deletes reservations, so try again later.
            throw HandlingFailure.transient("reservation_race", "order \(orderID)'s reservation came and went")
        }
        return existing
    }

    /// Locks the rows of `skus` in sorted order (docs/saga.md: copies never deadlock) and returns
    /// the units available per SKU; an unknown SKU is absent.
    func lockStock(_ skus: [String]) throws -> [String: Int] {
        let result = try database.query(
            "select sku, available from stock where sku = any($1::text[]) order by sku for update",
            [.textArray(skus.sorted())])
        var available: [String: Int] = [:]
        for row in result.rows { available[try row.string("sku")] = Int(try row.int("available")) }
        return available
    }

    /// Moves each line's units from `kind`'s source counter to its destination and records one
    /// ledger row per line. The SKU rows must already be locked (``lockStock(_:)``); `lines` hold
    /// each SKU once (an update joined to a repeated SKU would apply it only once).
    func move(_ kind: StockMovementKind, _ lines: [StockLine], orderID: String) throws {
        guard !lines.isEmpty else { return }
        let skus = PostgresValue.textArray(lines.map(\.sku))
        let quantities = PostgresValue.intArray(lines.map { Int64($0.quantity) })
        let destination = kind.destination.rawValue
        // Column names come from the closed `Counter` enumeration, never from input.
        let assignments =
            if let source = kind.source?.rawValue {
                "\(source) = s.\(source) - t.quantity, \(destination) = s.\(destination) + t.quantity"
            } else {
                "\(destination) = s.\(destination) + t.quantity"
            }
        try database.enqueue(
            """
            update stock s set \(assignments)
            from unnest($1::text[], $2::int[]) as t(sku, quantity)
            where s.sku = t.sku
            """, [skus, quantities])
        try database.enqueue(
            """
            insert into stock_movements (sku, order_id, kind, quantity)
            select t.sku, $1, $2, t.quantity from unnest($3::text[], $4::int[]) as t(sku, quantity)
            """, [.text(orderID), .text(kind.rawValue), skus, quantities])
    }

    /// Sets the order's reservation status (its row is locked or was inserted by this transaction).
    func setStatus(_ orderID: String, _ status: ReservationStatus) throws {
        try database.enqueue(
            "update reservations set status = $2, updated_at = now() where order_id = $1",
            [.text(orderID), .text(status.rawValue)])
    }
}
