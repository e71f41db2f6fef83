import Foundation
import Postgres

/// The card processor's state in its own PostgreSQL database (`gateway`): charges, refunds,
/// idempotency keys with the request's fingerprint and the answer given, and the attempts of
/// `tok_transient_N` keys. Every method runs on a ``DatabasePool`` connection, off the caller's
/// thread.
///
/// Idempotency comes from the database, not from memory: a key row and what it created are
/// written in one transaction, so a restarted processor replays every key it answered and a
/// key is never answered twice. Two requests racing with one key meet on the key's primary key:
/// the second insert waits for the first transaction and then finds the key taken.
final class CardProcessorStore: Sendable {
    /// An answer stored under an idempotency key: replayed byte for byte.
    struct StoredAnswer: Sendable, Hashable {
        var statusCode: Int
        var body: String
    }

    /// What a refund found under the charge's row lock.
    enum RefundDecision: Sendable {
        /// No charge has that id.
        case unknownCharge
        /// The charge has only `left` minor units captured and not refunded (0 for a decline).
        case exceedsCapture(left: Int)
        /// Refunded.
        case refunded(Refund)
    }

    let pool: DatabasePool

    init(pool: DatabasePool) {
        self.pool = pool
    }

    /// Creates the tables if they do not exist, under an advisory lock so that two processors
    /// (or two connections of one) starting together do not race on the catalog.
    static func migrate(_ connection: PostgresConnection) throws {
        try connection.transaction { connection in
            try connection.query("select pg_advisory_xact_lock(7312001)")
            try connection.executeScript(
                """
                create table if not exists gateway_charges (
                    id text primary key,
                    idempotency_key text not null unique,
                    order_reference text not null,
                    amount bigint not null check (amount > 0),
                    amount_refunded bigint not null default 0,
                    currency text not null,
                    payment_token text not null,
                    status text not null check (status in ('captured', 'declined')),
                    decline_code text,
                    decline_message text,
                    created_at timestamptz not null,
                    check (amount_refunded between 0 and amount)
                );
                create table if not exists gateway_refunds (
                    id text primary key,
                    charge_id text not null references gateway_charges (id),
                    idempotency_key text not null unique,
                    amount bigint not null check (amount > 0),
                    created_at timestamptz not null
                );
                -- The charge listing's indexes. Looked up first, so that a connection finding them
                -- takes no lock on gateway_charges (CREATE INDEX IF NOT EXISTS would take a share
                -- lock every time, and with the refunds index's after it could deadlock with a refund
                -- in flight); created before the refunds index, in the order a refund locks the tables.
                do $$ begin
                    if to_regclass('gateway_charges_created') is null then
                        create index gateway_charges_created on gateway_charges (created_at, id);
                    end if;
                    if to_regclass('gateway_charges_order') is null then
                        create index gateway_charges_order on gateway_charges (order_reference);
                    end if;
                end $$;
                create index if not exists gateway_refunds_charge on gateway_refunds (charge_id);
                create table if not exists gateway_idempotency_keys (
                    key text primary key,
                    endpoint text not null,
                    fingerprint text not null,
                    status_code int not null,
                    response text not null,
                    created_at timestamptz not null default now()
                );
                create table if not exists gateway_transient_attempts (
                    key text primary key,
                    attempts int not null
                );
                create table if not exists gateway_charges_in_flight (
                    key text primary key,
                    expires_at timestamptz not null
                );
                """)
        }
    }

    /// Whether the database answers.
    func ping() async throws {
        _ = try await pool.withConnection { try $0.query("select 1").rows.count }
    }

    /// The fingerprint and stored answer of `key`, or `nil` if the key is new.
    func answer(forKey key: String) async throws -> (fingerprint: String, answer: StoredAnswer)? {
        try await pool.withConnection { connection in
            guard
                let row = try connection.query(
                    "select fingerprint, status_code, response from gateway_idempotency_keys where key = $1",
                    [.text(key)]
                ).rows.first
            else { return nil }
            return (
                try row.string("fingerprint"),
                StoredAnswer(statusCode: Int(try row.int("status_code")), body: try row.string("response"))
            )
        }
    }

    /// Counts one more attempt of a `tok_transient_N` key; returns the count including this one.
    func countAttempt(key: String) async throws -> Int {
        try await pool.withConnection { connection in
            Int(
                try connection.query(
                    """
                    insert into gateway_transient_attempts (key, attempts) values ($1, 1)
                    on conflict (key) do update set attempts = gateway_transient_attempts.attempts + 1
                    returning attempts
                    """, [.text(key)]
                ).rows[0].int("attempts"))
        }
    }

    /// Notes that a charge under `key` is being worked on, until it ends or `lease` passes
    /// (whichever is first): a lookup of the key then answers "in progress" instead of "no such
    /// charge". The lease bounds what a processor that died mid-charge leaves behind.
    func beginCharge(key: String, lease: Duration) async throws {
        let milliseconds = lease.components.seconds * 1000 + lease.components.attoseconds / 1_000_000_000_000_000
        _ = try await pool.withConnection { connection in
            try connection.query(
                """
                insert into gateway_charges_in_flight (key, expires_at)
                values ($1, now() + $2::bigint * interval '1 millisecond')
                on conflict (key) do update set expires_at = greatest(gateway_charges_in_flight.expires_at, excluded.expires_at)
                """, [.text(key), .int(milliseconds)])
        }
    }

    /// The charge under `key` is answered (or abandoned): lookups no longer wait for it.
    func endCharge(key: String) async throws {
        _ = try await pool.withConnection { connection in
            try connection.query("delete from gateway_charges_in_flight where key = $1", [.text(key)])
        }
    }

    /// Whether a charge under `key` is being worked on (its lease has not run out).
    func chargeInFlight(key: String) async throws -> Bool {
        try await pool.withConnection { connection in
            try connection.query(
                "select 1 from gateway_charges_in_flight where key = $1 and expires_at > now()", [.text(key)]
            ).rows.count == 1
        }
    }

    /// Stores `charge` and `answer` under `key` in one statement (so atomically); `false` when the
    /// key was taken first, and nothing was written.
    func recordCharge(
        _ charge: Charge, paymentToken: String, key: String, fingerprint: String, answer: StoredAnswer
    ) async throws -> Bool {
        try await pool.withConnection { connection in
            let result = try connection.query(
                """
                with new_key as (
                    insert into gateway_idempotency_keys (key, endpoint, fingerprint, status_code, response)
                    values ($1, 'charges', $2, $3::int, $4)
                    on conflict (key) do nothing
                    returning key
                )
                insert into gateway_charges (
                    id, idempotency_key, order_reference, amount, currency, payment_token, status,
                    decline_code, decline_message, created_at)
                select $5, key, $6, $7::bigint, $8, $9, $10, $11, $12, to_timestamp($13::bigint) from new_key
                returning id
                """,
                [
                    .text(key), .text(fingerprint), .int(Int64(answer.statusCode)), .text(answer.body),
                    .text(charge.id), .text(charge.orderReference), .int(Int64(charge.amount)),
                    .text(charge.currency), .text(paymentToken), .text(charge.status.rawValue),
                    charge.declineCode.map { .text($0) } ?? .null, charge.declineMessage.map { .text($0) } ?? .null,
                    .int(Int64(charge.created)),
                ])
            return result.rows.count == 1
        }
    }

    /// The charge `id`, as it stands now.
    func charge(id: String) async throws -> Charge? {
        try await findCharge(column: "id", value: id)
    }

    /// The charge created under idempotency key `key`, as it stands now.
    func charge(idempotencyKey key: String) async throws -> Charge? {
        try await findCharge(column: "idempotency_key", value: key)
    }

    private func findCharge(column: StaticString, value: String) async throws -> Charge? {
        // `column` is one of two literals of this file, never input.
        let sql = """
            select id, status, decline_code, decline_message, amount, amount_refunded, currency, order_reference,
                extract(epoch from created_at)::bigint as created
            from gateway_charges where \(column) = $1
            """
        return try await pool.withConnection { connection in
            guard let row = try connection.query(sql, [.text(value)]).rows.first else { return nil }
            return Charge(
                id: try row.string("id"), status: Charge.Status(rawValue: try row.string("status")) ?? .declined,
                declineCode: try row.text("decline_code"), declineMessage: try row.text("decline_message"),
                amount: Int(try row.int("amount")), amountRefunded: Int(try row.int("amount_refunded")),
                currency: try row.string("currency"), orderReference: try row.string("order_reference"),
                created: Int(try row.int("created")))
        }
    }

    /// Refunds `amount` of charge `chargeID` under `key` in one transaction, with the charge's row
    /// locked so concurrent refunds of one charge never add up to more than its capture; stores
    /// `render(decision)` as the key's answer. `nil` when the key was taken first (nothing written).
    func refund(
        chargeID: String, amount: Int, key: String, fingerprint: String, refundID: String, created: Int,
        render: @escaping @Sendable (RefundDecision) -> StoredAnswer
    ) async throws -> StoredAnswer? {
        try await pool.withConnection { connection in
            try connection.transaction { connection -> StoredAnswer? in
                let claimed = try connection.query(
                    """
                    insert into gateway_idempotency_keys (key, endpoint, fingerprint, status_code, response)
                    values ($1, 'refunds', $2, 0, '') on conflict (key) do nothing returning key
                    """, [.text(key), .text(fingerprint)])
                guard claimed.rows.count == 1 else { return nil }
                let decision: RefundDecision
                if let row = try connection.query(
                    "select amount, amount_refunded, status from gateway_charges where id = $1 for update",
                    [.text(chargeID)]
                ).rows.first {
                    let left =
                        try row.string("status") == "captured"
                        ? Int(try row.int("amount") - row.int("amount_refunded")) : 0
                    if amount > left {
                        decision = .exceedsCapture(left: left)
                    } else {
                        try connection.query(
                            "update gateway_charges set amount_refunded = amount_refunded + $2::bigint where id = $1",
                            [.text(chargeID), .int(Int64(amount))])
                        try connection.query(
                            """
                            insert into gateway_refunds (id, charge_id, idempotency_key, amount, created_at)
                            values ($1, $2, $3, $4::bigint, to_timestamp($5::bigint))
                            """,
                            [.text(refundID), .text(chargeID), .text(key), .int(Int64(amount)), .int(Int64(created))])
                        decision = .refunded(Refund(id: refundID, charge: chargeID, amount: amount, created: created))
                    }
                } else {
                    decision = .unknownCharge
                }
                let answer = render(decision)
                try connection.query(
                    "update gateway_idempotency_keys set status_code = $2::int, response = $3 where key = $1",
                    [.text(key), .int(Int64(answer.statusCode)), .text(answer.body)])
                return answer
            }
        }
    }
}
