import Foundation
import Postgres

/// An outbox row the relay gave up on: it failed `outbox.parkAfterAttempts` times (unroutable,
/// refused by the broker) and waits for an operator (docs/operations.md, "Parked outbox rows").
public struct ParkedOutboxRow: Sendable, Equatable, Codable {
    public var id: Int64
    public var messageID: String
    public var messageType: String
    public var exchange: String
    public var routingKey: String
    public var correlationID: String
    /// The worker copy that committed it (`app@host:pid:random`), if recorded.
    public var owner: String?
    public var attempts: Int64
    /// The broker's answer to its last publish (`unroutable: 312 NO_ROUTE` …).
    public var lastError: String?
    public var createdAt: Date
    public var parkedAt: Date
}

/// The operator's statements on a worker database's `runtime_outbox`: list the parked rows and
/// hand them back to the relay. The relay itself (``PostgresStore``) never touches a parked row.
public enum OutboxAdministration {
    /// Parked rows, oldest first, at most `limit`, and how many there are in all.
    /// - Throws: `PostgresError`; `undefined_table` (42P01) when the database has no runtime outbox
    ///   (no worker ever started on it).
    public static func parked(limit: Int, on database: PostgresConnection) throws -> (
        rows: [ParkedOutboxRow], total: Int
    ) {
        let rows = try database.query(
            """
            select id, message_id, message_type, exchange, routing_key, correlation_id, owner, publish_attempts,
                   last_error, (extract(epoch from created_at) * 1000)::bigint as created_ms,
                   (extract(epoch from parked_at) * 1000)::bigint as parked_ms
            from runtime_outbox where parked_at is not null
            order by id limit $1
            """, [.int(Int64(limit))]
        ).rows.map { row in
            ParkedOutboxRow(
                id: try row.int("id"), messageID: try row.string("message_id"),
                messageType: try row.string("message_type"), exchange: try row.string("exchange"),
                routingKey: try row.string("routing_key"), correlationID: try row.string("correlation_id"),
                owner: try row.text("owner"), attempts: try row.int("publish_attempts"),
                lastError: try row.text("last_error"),
                createdAt: Date(timeIntervalSince1970: Double(try row.int("created_ms")) / 1000),
                parkedAt: Date(timeIntervalSince1970: Double(try row.int("parked_ms")) / 1000))
        }
        let total = try database.query("select count(*) as n from runtime_outbox where parked_at is not null").rows[0]
            .int("n")
        return (rows, Int(total))
    }

    /// Hands parked rows back to the relay with a fresh attempt budget (no backoff, attempts 0;
    /// the last error is kept until the next publish): `ids`, or every parked row when `ids` is
    /// nil. The relay of the row's owner takes it at its next run (another worker copy's relay
    /// once the owner is gone and the row is older than the grace). Returns the ids handed back;
    /// an id that is not a parked row is not in it.
    public static func retry(ids: [Int64]?, on database: PostgresConnection) throws -> [Int64] {
        let result: PostgresResult
        let reset = "update runtime_outbox set parked_at = null, next_attempt_at = null, publish_attempts = 0"
        if let ids {
            result = try database.query(
                "\(reset) where parked_at is not null and id = any($1::bigint[]) returning id", [.intArray(ids)])
        } else {
            result = try database.query("\(reset) where parked_at is not null returning id")
        }
        return try result.rows.map { try $0.int("id") }.sorted()
    }
}
