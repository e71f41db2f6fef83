import CommerceSupport
import Postgres

/// Statements on `runtime_inbox`: the message ids each consumer has processed. All take the
/// caller's connection, inside its transaction.
enum Inbox {
    /// The statement that records `ids` for `consumer`; its result, read by ``fresh(_:)``, names
    /// those that were not there yet (the others are duplicates).
    static func insert(_ ids: [String], consumer: String) -> PostgresStatement {
        PostgresStatement(
            """
            insert into runtime_inbox (consumer, message_id)
            select $1, id from unnest($2::text[]) as id
            on conflict do nothing returning message_id
            """, [.text(consumer), .textArray(ids)])
    }

    /// The ids an ``insert(_:consumer:)`` recorded.
    static func fresh(_ result: PostgresResult) throws -> Set<String> {
        Set(try result.rows.map { try $0.string("message_id") })
    }

    /// Deletes at most `limit` rows processed longer than `retention` ago; returns how many.
    static func deleteOlder(than retention: Duration, limit: Int, on database: PostgresConnection) throws -> Int {
        try database.query(
            """
            delete from runtime_inbox where ctid in (
                select ctid from runtime_inbox where processed_at < now() - make_interval(secs => $1) limit $2)
            """, [.double(retention.seconds), .int(Int64(limit))]
        ).affectedRows
    }
}
