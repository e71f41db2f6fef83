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
                 message_timestamp, owner, body)
            select m, $1, k, c, nullif(ca, ''), k, a, t, $2, decode(b, 'hex')
            from unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[], $9::text[])
                as u(m, k, c, ca, a, t, b)
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
    /// and rows without an owner (written before owners were recorded) after the grace.
    static func relayable(owner: String, grace: Duration, limit: Int, on database: PostgresConnection) throws
        -> [OutboxRow]
    {
        let rows = try database.query(
            """
            select id, message_id, exchange, routing_key, correlation_id, coalesce(causation_id, '') as causation_id,
                   message_type, app_id,
                   coalesce(message_timestamp, extract(epoch from created_at)::bigint) as created, body
            from runtime_outbox
            where (owner = $1
                   or (created_at < now() - make_interval(secs => $2)
                       and (owner is null or pg_try_advisory_xact_lock($4, hashtext(owner)))))
            order by id limit $3
            for update skip locked
            """, [.text(owner), .double(grace.seconds), .int(Int64(limit)), .int(ownerLockSpace)]
        ).rows
        return try rows.map { row in
            let causation = try row.string("causation_id")
            let envelope = Envelope(
                messageID: try row.string("message_id"), correlationID: try row.string("correlation_id"),
                causationID: causation.isEmpty ? nil : causation, type: try row.string("message_type"),
                timestamp: Date(timeIntervalSince1970: TimeInterval(try row.int("created"))),
                appID: try row.string("app_id"))
            return OutboxRow(
                id: try row.int("id"), exchange: try row.string("exchange"),
                message: OutgoingMessage(envelope: envelope, body: try row.bytes("body")))
        }
    }

    /// Deletes published rows: the outbox holds only what is still to be published.
    static func remove(_ ids: [Int64]) -> PostgresStatement {
        PostgresStatement("delete from runtime_outbox where id = any($1::bigint[])", [.intArray(ids)])
    }

    static func markFailed(_ id: Int64, error: String) -> PostgresStatement {
        PostgresStatement(
            "update runtime_outbox set publish_attempts = publish_attempts + 1, last_error = $2 where id = $1",
            [.int(id), .text(error)])
    }

    /// Rows not yet published.
    static func backlog(on database: PostgresConnection) throws -> Int {
        Int(try database.query("select count(*) as n from runtime_outbox").rows[0].int("n"))
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
