import CommerceDomain
import CommerceSupport
import Postgres
import WorkerRuntime

/// Every statement the payment worker runs on its own tables: `payments` (one row per order,
/// ``PaymentRecord``) and `payment_ledger` (every capture and refund). ``PaymentHandler`` decides
/// nothing here and writes nothing elsewhere; the store writes nothing it was not told to
/// (docs/saga.md, payment-worker).
///
/// It works through the batch's (or the sweeper's) ``HandlerDatabase``, so everything it writes
/// commits or rolls back with the inbox and the outbox. Writes whose result no decision reads are
/// queued (``HandlerDatabase/enqueue(_:_:)``) and cost no round trip of their own.
struct PaymentStore {
    let database: HandlerDatabase

    /// Creates `payments` and `payment_ledger` (idempotent; the runtime calls it at every connect).
    static func migrate(_ database: PostgresConnection) throws {
        try database.executeScript(
            """
            create table if not exists payments (
                order_id text primary key,
                status text not null,
                payment_id text,
                amount bigint not null default 0,
                currency text not null default 'KRW',
                decline_code text,
                updated_at timestamptz not null default now()
            );
            create table if not exists payment_ledger (
                id bigserial primary key,
                order_id text not null,
                kind text not null check (kind in ('capture', 'refund')),
                amount bigint not null,
                payment_id text,
                created_at timestamptz not null default now()
            );
            create index if not exists payment_ledger_order on payment_ledger (order_id);
            alter table payments add column if not exists cancel_reason text;
            create index if not exists payments_refund_due on payments (updated_at) where status = 'refund_due';
            alter table payments add column if not exists recheck_at timestamptz;
            alter table payments add column if not exists recheck_until timestamptz;
            alter table payments add column if not exists rechecks integer not null default 0;
            create index if not exists payments_recheck on payments (recheck_at)
                where status = 'cancelled' and recheck_at is not null;
            """)
    }

    // MARK: Reading under a lock

    /// The order's row, locked until the transaction ends, or `nil` if there is none.
    /// - Throws: a permanent ``HandlingFailure`` for a row this worker cannot have written (an
    ///   unknown status or currency).
    func lock(_ orderID: String) throws -> PaymentRecord? {
        let result = try database.query(
            "select status, payment_id, amount, currency, decline_code from payments where order_id = $1 for update",
            [.text(orderID)])
        guard let row = result.rows.first else { return nil }
        let status = try row.string("status")
        guard let known = PaymentRecord.Status(rawValue: status) else {
            throw HandlingFailure.permanent("unknown_payment_status", "order \(orderID) has payment status '\(status)'")
        }
        let code = try row.string("currency")
        let currency: Currency
        do {
            currency = try Currency(code)
        } catch {
            throw HandlingFailure.permanent("invalid_data", "order \(orderID) has payment currency '\(code)'")
        }
        return PaymentRecord(
            status: known, paymentID: try row.text("payment_id"), amount: Int(try row.int("amount")),
            currency: currency, declineCode: try row.text("decline_code"))
    }

    /// A `refund_due` row, as the sweeper needs it.
    struct RefundOwed {
        var orderID: String
        /// `nil` only for a row this worker cannot have written; the sweeper skips it.
        var paymentID: String?
        var amount: Int
        var currency: Currency
        /// The cancellation's reason, for `payment.refunded` (`customer_request` when none was kept).
        var cancelReason: OrderOutcomeReason
    }

    /// Up to `limit` `refund_due` rows, oldest first, locked `for update skip locked`: copies of
    /// the worker never take the same row.
    func lockRefundsOwed(limit: Int) throws -> [RefundOwed] {
        let due = try database.query(
            """
            select order_id, payment_id, amount, currency, cancel_reason from payments
            where status = 'refund_due' order by updated_at limit \(limit) for update skip locked
            """)
        return try due.rows.map { row in
            RefundOwed(
                orderID: try row.string("order_id"), paymentID: try row.text("payment_id"),
                amount: Int(try row.int("amount")),
                currency: (try? Currency(try row.string("currency"))) ?? .krw,
                cancelReason: try row.text("cancel_reason").flatMap(OrderOutcomeReason.init(rawValue:))
                    ?? .customerRequest)
        }
    }

    /// A tombstone whose charge key is due to be looked up again, as the sweeper needs it.
    struct Tombstone {
        var orderID: String
        /// What the order's charge is (or would be): the amount a capture found is refunded.
        var amount: Int
        var currency: Currency
        var cancelReason: OrderOutcomeReason
    }

    /// Up to `limit` tombstones due for another lookup, the longest waiting first, locked
    /// `for update skip locked` like the refunds owed.
    func lockTombstonesDue(limit: Int) throws -> [Tombstone] {
        let due = try database.query(
            """
            select order_id, amount, currency, cancel_reason from payments
            where status = 'cancelled' and recheck_at <= now()
            order by recheck_at limit \(limit) for update skip locked
            """)
        return try due.rows.map { row in
            Tombstone(
                orderID: try row.string("order_id"), amount: Int(try row.int("amount")),
                currency: (try? Currency(try row.string("currency"))) ?? .krw,
                cancelReason: try row.text("cancel_reason").flatMap(OrderOutcomeReason.init(rawValue:))
                    ?? .customerRequest)
        }
    }

    // MARK: Writing

    /// Inserts the order's row. The row was absent under ``lock(_:)``'s `select … for update`,
    /// which locks nothing: a second copy may have inserted it meanwhile, and then this message
    /// fails transiently (`payment_raced`) and is tried again, to find that row.
    ///
    /// A tombstone (`recheck` given) is looked up again from `recheck.firstDelay` on, until
    /// `recheck.window` has passed (``TombstoneRecheck``).
    func insert(
        _ record: PaymentRecord, orderID: String, cancelReason: OrderOutcomeReason?, recheck: TombstoneRecheck? = nil
    ) throws {
        let inserted = try database.query(
            """
            insert into payments (order_id, status, payment_id, amount, currency, decline_code, cancel_reason,
                                  recheck_at, recheck_until)
            values ($1, $2, $3, $4, $5, $6, $7,
                    now() + $8::bigint * interval '1 millisecond', now() + $9::bigint * interval '1 millisecond')
            on conflict (order_id) do nothing
            """,
            [
                .text(orderID), .text(record.status.rawValue), record.paymentID.map { .text($0) } ?? .null,
                .int(Int64(record.amount)), .text(record.currency.code), record.declineCode.map { .text($0) } ?? .null,
                cancelReason.map { .text($0.rawValue) } ?? .null,
                recheck.map { .int($0.firstDelay.milliseconds) } ?? .null,
                recheck.map { .int($0.window.milliseconds) } ?? .null,
            ])
        guard inserted.affectedRows == 1 else {
            throw HandlingFailure.transient("payment_raced", "another message recorded order \(orderID) first")
        }
    }

    /// Sets the row's status.
    func setStatus(_ status: PaymentRecord.Status, orderID: String) throws {
        try database.enqueue(
            "update payments set status = $2, updated_at = now() where order_id = $1",
            [.text(orderID), .text(status.rawValue)])
    }

    /// Marks the row `refund_due`, with the capture that is owed back.
    func setRefundDue(orderID: String, paymentID: String?, amount: Int, currency: Currency) throws {
        try database.enqueue(
            """
            update payments set status = 'refund_due', payment_id = $2, amount = $3, currency = $4,
                recheck_at = null, updated_at = now()
            where order_id = $1
            """,
            [.text(orderID), paymentID.map { .text($0) } ?? .null, .int(Int64(amount)), .text(currency.code)])
    }

    /// Keeps the cancellation's reason on the row.
    func setCancelReason(_ reason: OrderOutcomeReason?, orderID: String) throws {
        try database.enqueue(
            "update payments set cancel_reason = $2, updated_at = now() where order_id = $1",
            [.text(orderID), reason.map { .text($0.rawValue) } ?? .null])
    }

    /// Schedules the tombstone's next lookup: twice as long after this one as this one came after
    /// the one before (the first delay, then doubling), and none once that would pass its window.
    func recheckLater(orderID: String, firstDelay: Duration) throws {
        try database.enqueue(
            """
            update payments set rechecks = rechecks + 1,
                recheck_at = case
                    when now() + $2::bigint * power(2, rechecks + 1) * interval '1 millisecond' <= recheck_until
                    then now() + $2::bigint * power(2, rechecks + 1) * interval '1 millisecond' end
            where order_id = $1
            """,
            [.text(orderID), .int(firstDelay.milliseconds)])
    }

    /// Moves the row to the back of the sweeper's queue (its `updated_at` is the sweep order).
    func postpone(orderID: String) throws {
        try database.enqueue("update payments set updated_at = now() where order_id = $1", [.text(orderID)])
    }

    /// Appends a ledger row.
    func appendLedger(_ kind: PaymentSagaState.LedgerKind, orderID: String, amount: Int, paymentID: String?) throws {
        try database.enqueue(
            "insert into payment_ledger (order_id, kind, amount, payment_id) values ($1, $2, $3, $4)",
            [.text(orderID), .text(kind.rawValue), .int(Int64(amount)), paymentID.map { .text($0) } ?? .null])
    }
}
