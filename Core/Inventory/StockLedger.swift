import CommerceMessages
import Postgres
import WorkerRuntime

/// The stock worker's statements inside a batch's transaction: claiming or locking an order's
/// reservation together with its SKU rows, and moving units between counters with their ledger
/// rows.
///
/// Each message costs one round trip in the usual case (docs/saga.md, "What each message
/// costs"): a read that claims or locks the reservation and locks its SKU rows in one statement
/// (the reservation first, then the SKU rows in key order, as every copy does), and one write
/// that is queued (`enqueue`), so it travels with the next statement or the commit, in order
/// (docs/architecture.md, "Handlers").
struct StockLedger {
    /// An order's row in `reservations`.
    struct Reservation: Hashable {
        var status: ReservationStatus
        /// What the order holds (or asked for, when rejected); one line per SKU.
        var lines: [StockLine]
    }

    let database: HandlerDatabase

    /// Inserts the order's reservation with `status` and `lines`, unless the order already has
    /// one, and in the same statement locks the rows of `skus` in sorted order (docs/saga.md:
    /// copies never deadlock) when the row was inserted.
    /// - Returns: the units available per SKU of `skus` (an unknown SKU is absent), or `nil` when
    ///   the order already had a reservation (another transaction that inserted it committed:
    ///   the insert waited for it) and nothing was locked.
    func claim(
        _ orderID: String, as status: ReservationStatus, lines: [StockLine], lockingStockOf skus: [String]
    ) throws -> [String: Int]? {
        // `locked` runs only once `claimed` has inserted the row (its `exists` is an initial
        // plan evaluated before the scan), and locks in `order by` order: the sort runs below
        // the row locks. The last branch is the marker row when nothing was claimed.
        let result = try database.query(
            """
            with claimed as (
                insert into reservations (order_id, status, lines)
                select $1, $2, coalesce(
                    jsonb_agg(jsonb_build_object('sku', t.sku, 'quantity', t.quantity) order by t.position), '[]'::jsonb)
                from unnest($3::text[], $4::bigint[]) with ordinality as t(sku, quantity, position)
                on conflict (order_id) do nothing
                returning order_id
            ), locked as (
                select sku, available from stock
                where sku = any($5::text[]) and exists (select 1 from claimed)
                order by sku
                for update
            )
            select true as claimed, sku, available from locked
            union all
            select false, null, null where not exists (select 1 from claimed)
            """,
            [
                .text(orderID), .text(status.rawValue), .textArray(lines.map(\.sku)),
                .intArray(lines.map { Int64($0.quantity) }), .textArray(skus.sorted()),
            ])
        var available: [String: Int] = [:]
        for row in result.rows {
            guard try row.bool("claimed") else { return nil }
            available[try row.string("sku")] = Int(try row.int("available"))
        }
        return available
    }

    /// The order's reservation, locked until the batch commits; `nil` if the order has none.
    /// When its status is one of `stockFor`, the rows of its SKUs are locked too, in sorted
    /// order, after the reservation and in the same statement.
    func lockReservation(_ orderID: String, lockingStockFor stockFor: Set<ReservationStatus> = []) throws
        -> Reservation?
    {
        // `r` is materialised once (it locks, and is read twice); `locked` reads it, so the
        // reservation is locked before any SKU row. The SKUs go in as one array, as in `claim`,
        // so the primary key's index scan finds them (whatever the table's size) and the rows
        // are locked in `order by` order: the index order or a sort, below the row locks. The
        // count makes `locked` run (an unreferenced `select` in `with` does not) and is 0 when
        // the status needs no stock.
        let result = try database.query(
            """
            with r as (
                select status, lines from reservations where order_id = $1 for update
            ), locked as (
                select s.sku from stock s
                where s.sku = any(array(
                    select line ->> 'sku' from r, jsonb_array_elements(r.lines) as line
                    where r.status = any($2::text[])))
                order by s.sku
                for update of s
            )
            select r.status, l.line ->> 'sku' as sku, (l.line ->> 'quantity')::bigint as quantity,
                   (select count(*) from locked) as locked
            from r
            left join lateral jsonb_array_elements(r.lines) with ordinality as l(line, position) on true
            order by l.position
            """, [.text(orderID), .textArray(stockFor.map(\.rawValue).sorted())])
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

    /// The order's reservation locked (with its SKU rows when its status is one of `stockFor`),
    /// or `nil` once this transaction has inserted a row with `status` and no lines (a
    /// tombstone) as the order's reservation. Locking first serves the usual case (the row
    /// exists) in one statement; the insert settles a race with a copy that creates the row
    /// meanwhile.
    func reservation(
        of orderID: String, tombstoning status: ReservationStatus, lockingStockFor stockFor: Set<ReservationStatus>
    )
        throws -> Reservation?
    {
        if let existing = try lockReservation(orderID, lockingStockFor: stockFor) { return existing }
        if try claim(orderID, as: status, lines: [], lockingStockOf: []) != nil { return nil }
        guard let existing = try lockReservation(orderID, lockingStockFor: stockFor) else {
            // The other transaction's row vanished: nothing deletes reservations, so try again later.
            throw HandlingFailure.transient("reservation_race", "order \(orderID)'s reservation came and went")
        }
        return existing
    }

    /// Moves each line's units from `kind`'s source counter to its destination, records one
    /// ledger row per line and, with `status`, sets the order's reservation status: one queued
    /// statement. The SKU rows must already be locked (``claim(_:as:lines:lockingStockOf:)``,
    /// ``lockReservation(_:lockingStockFor:)``), and so must the reservation row (or this
    /// transaction inserted it); `lines` hold each SKU once (an update joined to a repeated SKU
    /// would apply it only once).
    func move(_ kind: StockMovementKind, _ lines: [StockLine], orderID: String, status: ReservationStatus? = nil)
        throws
    {
        guard !lines.isEmpty else {
            if let status { try setStatus(orderID, status) }
            return
        }
        let destination = kind.destination.rawValue
        // Column names come from the closed `Counter` enumeration, never from input.
        let assignments =
            if let source = kind.source?.rawValue {
                "\(source) = s.\(source) - t.quantity, \(destination) = s.\(destination) + t.quantity"
            } else {
                "\(destination) = s.\(destination) + t.quantity"
            }
        // Data-modifying `with` parts always run to completion, whether or not they are read.
        let statusUpdate =
            status == nil
            ? ""
            : """
            , status_set as (
                update reservations set status = $5, updated_at = now() where order_id = $1
            )
            """
        var parameters: [PostgresValue] = [
            .text(orderID), .text(kind.rawValue), .textArray(lines.map(\.sku)),
            .intArray(lines.map { Int64($0.quantity) }),
        ]
        if let status { parameters.append(.text(status.rawValue)) }
        try database.enqueue(
            """
            with moved as (
                update stock s set \(assignments)
                from unnest($3::text[], $4::int[]) as t(sku, quantity)
                where s.sku = t.sku
            )\(statusUpdate)
            insert into stock_movements (sku, order_id, kind, quantity)
            select t.sku, $1, $2, t.quantity from unnest($3::text[], $4::int[]) as t(sku, quantity)
            """, parameters)
    }

    /// Sets the order's reservation status (its row is locked or was inserted by this transaction).
    func setStatus(_ orderID: String, _ status: ReservationStatus) throws {
        try database.enqueue(
            "update reservations set status = $2, updated_at = now() where order_id = $1",
            [.text(orderID), .text(status.rawValue)])
    }
}
