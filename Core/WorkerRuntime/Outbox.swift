import AMQP
import CommerceMessages
import CommerceSupport
import Foundation
import Postgres

/// One outbox row: a message committed with the effects that caused it.
struct OutboxRow {
    var id: Int64
    var exchange: String
    var message: OutgoingMessage

    var publication: BrokerLink.Publication {
        BrokerLink.Publication(
            exchange: exchange, routingKey: message.routingKey, properties: message.properties, body: message.body)
    }
}

/// Statements on `runtime_outbox`. All take the caller's connection, usually inside its transaction.
enum Outbox {
    /// Inserts every message in one statement, owned by `owner` (the consumer that will publish
    /// them), and returns the rows with their ids.
    static func insert(_ messages: [OutgoingMessage], exchange: String, owner: String, on database: PostgresConnection)
        throws -> [OutboxRow]
    {
        guard let statement = insertStatement(messages, exchange: exchange, owner: owner) else { return [] }
        return try rows(inserted: database.query(statement.sql, statement.parameters), messages, exchange: exchange)
    }

    /// The statement inserting every message, owned by `owner`, or `nil` for none. `created_at`
    /// is the transaction's own time, to the microsecond, which the relay's grace is measured
    /// from; the message's own (whole-second) timestamp is kept apart.
    static func insertStatement(_ messages: [OutgoingMessage], exchange: String, owner: String) -> PostgresStatement? {
        guard !messages.isEmpty else { return nil }
        return PostgresStatement(
            """
            insert into runtime_outbox
                (message_id, exchange, routing_key, correlation_id, causation_id, message_type, app_id,
                 message_timestamp, owner, body, trace_parent, trace_state)
            select m, $1, k, c, nullif(ca, ''), k, a, t, $2, decode(b, 'hex'), nullif(tp, ''), nullif(ts, '')
            from unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[],
                        $10::text[], $11::text[])
                as u(m, k, c, ca, a, t, b, tp, ts)
            returning id, message_id
            """,
            [
                .text(exchange),
                .text(owner),
                .textArray(messages.map(\.envelope.messageID)),
                .textArray(messages.map(\.routingKey)),
                .textArray(messages.map(\.envelope.correlationID)),
                .textArray(messages.map { $0.envelope.causationID ?? "" }),
                .textArray(messages.map(\.envelope.appID)),
                .intArray(messages.map { Int64($0.envelope.timestamp.timeIntervalSince1970) }),
                .textArray(messages.map { hex($0.body) }),
                .textArray(messages.map { $0.envelope.traceParent ?? "" }),
                .textArray(messages.map { $0.envelope.traceState ?? "" }),
            ])
    }

    /// The rows an ``insertStatement(_:exchange:owner:)`` created, in `messages`' order.
    static func rows(inserted result: PostgresResult, _ messages: [OutgoingMessage], exchange: String) throws
        -> [OutboxRow]
    {
        var ids: [String: Int64] = [:]
        for row in result.rows { ids[try row.string("message_id")] = try row.int("id") }
        return try messages.map { message in
            guard let id = ids[message.envelope.messageID] else {
                throw PostgresError(
                    code: .typeMismatch,
                    message: "the outbox insert returned no id for message \(message.envelope.messageID)")
            }
            return OutboxRow(id: id, exchange: exchange, message: message)
        }
    }

    /// The first key of the advisory lock each consumer holds on its owner name while its session
    /// lives (`pg_advisory_lock(ownerLockSpace, hashtext(owner))`).
    static let ownerLockSpace: Int64 = 7_283_002

    /// Unsent rows to relay, oldest first, locked so that relays of other worker copies skip them:
    /// `owner`'s own rows at any age; another owner's rows only when they are older than `grace`
    /// and that owner's session is gone (its advisory lock can be taken), so a live consumer's
    /// rows, even in a publish that waits on a blocked broker, are never published by another;
    /// and rows without an owner (written before owners were recorded) after the grace. A row
    /// waiting out its backoff (`next_attempt_at`) or parked (`parked_at`) is not taken, so rows
    /// that keep failing never hold back the rows written after them.
    static func relayable(owner: String, grace: Duration, limit: Int, on database: PostgresConnection) throws
        -> [OutboxRow]
    {
        let rows = try database.query(
            """
            select id, message_id, exchange, routing_key, correlation_id, coalesce(causation_id, '') as causation_id,
                   message_type, app_id,
                   coalesce(message_timestamp, extract(epoch from created_at)::bigint) as created, body,
                   coalesce(trace_parent, '') as trace_parent, coalesce(trace_state, '') as trace_state
            from runtime_outbox
            where parked_at is null and (next_attempt_at is null or next_attempt_at <= now())
              and (owner = $1
                   or (created_at < now() - make_interval(secs => $2)
                       and (owner is null or pg_try_advisory_xact_lock($4, hashtext(owner)))))
            order by id limit $3
            for update skip locked
            """, [.text(owner), .double(grace.seconds), .int(Int64(limit)), .int(ownerLockSpace)]
        ).rows
        return try rows.map { row in
            let causation = try row.string("causation_id")
            let traceParent = try row.string("trace_parent")
            let traceState = try row.string("trace_state")
            let envelope = Envelope(
                messageID: try row.string("message_id"), correlationID: try row.string("correlation_id"),
                causationID: causation.isEmpty ? nil : causation, type: try row.string("message_type"),
                timestamp: Date(timeIntervalSince1970: TimeInterval(try row.int("created"))),
                appID: try row.string("app_id"), traceParent: traceParent.isEmpty ? nil : traceParent,
                traceState: traceState.isEmpty ? nil : traceState)
            return OutboxRow(
                id: try row.int("id"), exchange: try row.string("exchange"),
                message: OutgoingMessage(envelope: envelope, body: try row.bytes("body")))
        }
    }

    /// Deletes published rows: the outbox holds only what is still to be published.
    static func remove(_ ids: [Int64]) -> PostgresStatement {
        PostgresStatement("delete from runtime_outbox where id = any($1::bigint[])", [.intArray(ids)])
    }

    /// Records a failed publish of each row: one more attempt, its error, the time before the relay
    /// tries it again (``OutboxRetry``: `base` doubled per earlier attempt, at most `maximum`), and
    /// parks the row once it has failed `parkAfter` times: the relay leaves it alone until an
    /// operator retries it (`commerce outbox retry`). Returns the parked rows
    /// (``parkedRows(_:)``).
    static func markFailed(_ failures: [OutboxPublishPlan.Failure], retry: OutboxRetry) -> PostgresStatement {
        PostgresStatement(
            """
            update runtime_outbox o
            set publish_attempts = o.publish_attempts + 1, last_error = f.e,
                next_attempt_at = now() + make_interval(
                    secs => least($3::float8, $2::float8 * power(2, least(o.publish_attempts, 30)))),
                parked_at = case when o.publish_attempts + 1 >= $4 then now() end
            from unnest($1::bigint[], $5::text[]) as f(i, e)
            where o.id = f.i
            returning o.id, o.message_id, o.routing_key, o.publish_attempts, o.parked_at is not null as parked
            """,
            [
                .intArray(failures.map(\.id)), .double(retry.base.seconds), .double(retry.maximum.seconds),
                .int(Int64(retry.parkAfter)), .textArray(failures.map(\.error)),
            ])
    }

    /// A row ``markFailed(_:retry:)`` parked.
    struct ParkedRow: Equatable {
        var id: Int64
        var messageID: String
        var routingKey: String
        var attempts: Int64
    }

    /// The rows a ``markFailed(_:retry:)`` statement parked, from its result.
    static func parkedRows(_ result: PostgresResult) throws -> [ParkedRow] {
        try result.rows.filter { try $0.bool("parked") }.map {
            ParkedRow(
                id: try $0.int("id"), messageID: try $0.string("message_id"), routingKey: try $0.string("routing_key"),
                attempts: try $0.int("publish_attempts"))
        }
    }

    /// Rows not yet published, and how many of them are parked.
    static func backlog(on database: PostgresConnection) throws -> (rows: Int, parked: Int) {
        let row = try database.query(
            "select count(*) as n, count(*) filter (where parked_at is not null) as parked from runtime_outbox"
        ).rows[0]
        return (Int(try row.int("n")), Int(try row.int("parked")))
    }

    private static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
