import CommerceSupport
import Foundation
import Postgres

/// The journal in a worker's PostgreSQL database: the table `message_journal`, created with the
/// runtime's own tables (``RuntimeSchema``), written by ``PostgresStore`` and read by
/// `commerce order show`.
extension MessageJournal {
    /// The table and its indexes, run inside ``RuntimeSchema/migrate(_:then:)``'s locked
    /// transaction. Rows are appended in time order, so a BRIN index on `committed_at` finds old
    /// rows for retention at a fraction of a B-tree's cost per insert (as the inbox does); the
    /// B-tree on `correlation_id` is what a saga's timeline is read by.
    static let schema: StaticString = """
        create table if not exists message_journal (
            direction text not null,
            outcome text not null,
            message_id text not null,
            correlation_id text not null,
            causation_id text,
            message_type text not null,
            sender text,
            queue text not null,
            app text not null,
            host text not null,
            pid int not null,
            version text not null,
            attempts int,
            received_at timestamptz,
            committed_at timestamptz not null,
            error_class text,
            reason text,
            error_message text,
            retry_delay_ms bigint
        );
        alter table message_journal add column if not exists trace_id text;
        create index if not exists message_journal_correlation on message_journal (correlation_id);
        create index if not exists message_journal_committed_brin on message_journal using brin (committed_at);
        """

    /// The statement that writes `entries` in one multi-row insert (an `unnest` of one array per
    /// column), or `nil` for none. The writer's identity and the commit time travel once, as
    /// scalars; the failure columns only when some entry is a failure, so the statement of an
    /// ordinary batch carries nothing it does not need.
    static func insertStatement(_ entries: [JournalEntry]) -> PostgresStatement? {
        guard let first = entries.first else { return nil }
        let withFailures = entries.contains { $0.outcome == .retry || $0.outcome == .deadLettered }
        var parameters: [PostgresValue] = [
            .text(first.queue), .text(first.app), .text(first.host), .int(Int64(first.pid)), .text(first.version),
            .timestamp(first.committedAt),
            .textArray(entries.map(\.direction.rawValue)),
            .textArray(entries.map(\.outcome.rawValue)),
            .textArray(entries.map(\.messageID)),
            .textArray(entries.map(\.correlationID)),
            .textArray(entries.map { $0.causationID ?? "" }),
            .textArray(entries.map(\.type)),
            .textArray(entries.map { $0.sender ?? "" }),
            .intArray(entries.map { Int64($0.attempts ?? -1) }),
            .intArray(entries.map { $0.receivedAt.map { Int64(($0.timeIntervalSince1970 * 1e6).rounded()) } ?? -1 }),
            .textArray(entries.map { $0.traceID ?? "" }),
        ]
        var columns = ""
        var values = ""
        var arrays =
            "$7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[], "
            + "$14::bigint[], $15::bigint[], $16::text[]"
        var names = "d, o, m, c, ca, t, s, a, r, tr"
        if withFailures {
            parameters += [
                .textArray(entries.map { $0.errorClass ?? "" }),
                .textArray(entries.map { $0.reason ?? "" }),
                .textArray(entries.map { $0.errorMessage ?? "" }),
                .intArray(entries.map { Int64($0.retryDelayMilliseconds ?? -1) }),
            ]
            columns = ", error_class, reason, error_message, retry_delay_ms"
            values = ", nullif(ec, ''), nullif(re, ''), nullif(em, ''), nullif(rd, -1)"
            arrays += ", $17::text[], $18::text[], $19::text[], $20::bigint[]"
            names += ", ec, re, em, rd"
        }
        return PostgresStatement(
            """
            insert into message_journal
                (queue, app, host, pid, version, committed_at, direction, outcome, message_id, correlation_id,
                 causation_id, message_type, sender, attempts, received_at, trace_id\(columns))
            select $1, $2, $3, $4, $5, $6, d, o, m, c, nullif(ca, ''), t, nullif(s, ''), nullif(a, -1),
                   case when r < 0 then null else to_timestamp(r / 1e6) end, nullif(tr, '')\(values)
            from unnest(\(arrays)) as u(\(names))
            """, parameters)
    }

    /// Deletes at most `limit` rows written longer than `retention` ago; returns how many.
    static func deleteOlder(than retention: Duration, limit: Int, on database: PostgresConnection) throws -> Int {
        try database.query(
            """
            delete from message_journal where ctid in (
                select ctid from message_journal where committed_at < now() - make_interval(secs => $1) limit $2)
            """, [.double(retention.seconds), .int(Int64(limit))]
        ).affectedRows
    }

    /// Every row of the saga `correlationID` in `database`, oldest first. A database without the
    /// table (a worker of an earlier version, or none started yet) has none.
    /// - Throws: `PostgresError` when the database cannot be read.
    public static func entries(correlationID: String, on database: PostgresConnection) throws -> [JournalEntry] {
        let exists = try database.query("select to_regclass('message_journal') is not null as present").rows[0]
            .bool("present")
        guard exists else { return [] }
        let rows = try database.query(
            """
            select direction, outcome, message_id, correlation_id, causation_id, message_type, sender, queue, app,
                   host, pid, version, attempts,
                   (extract(epoch from received_at) * 1000000)::bigint as received_us,
                   (extract(epoch from committed_at) * 1000000)::bigint as committed_us,
                   error_class, reason, error_message, retry_delay_ms, trace_id
            from message_journal where correlation_id = $1 order by committed_at
            """, [.text(correlationID)]
        ).rows
        return try rows.map { row in
            func date(_ column: String) throws -> Date? {
                try row.optionalInt(column).map { Date(timeIntervalSince1970: Double($0) / 1e6) }
            }
            guard let direction = JournalEntry.Direction(rawValue: try row.string("direction")),
                let outcome = JournalEntry.Outcome(rawValue: try row.string("outcome")),
                let committedAt = try date("committed_us")
            else {
                throw PostgresError(
                    code: .typeMismatch, message: "message_journal holds a row this version cannot read")
            }
            return JournalEntry(
                direction: direction, outcome: outcome, messageID: try row.string("message_id"),
                correlationID: try row.string("correlation_id"), causationID: try row.text("causation_id"),
                type: try row.string("message_type"), sender: try row.text("sender"), queue: try row.string("queue"),
                app: try row.string("app"), host: try row.string("host"), pid: Int(try row.int("pid")),
                version: try row.string("version"), attempts: try row.optionalInt("attempts").map(Int.init),
                receivedAt: try date("received_us"), committedAt: committedAt,
                errorClass: try row.text("error_class"), reason: try row.text("reason"),
                errorMessage: try row.text("error_message"),
                retryDelayMilliseconds: try row.optionalInt("retry_delay_ms").map(Int.init),
                traceID: try row.text("trace_id"))
        }
    }
}
