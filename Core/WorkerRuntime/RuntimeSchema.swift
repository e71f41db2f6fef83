import Postgres

/// The runtime's own tables in each worker's database: the inbox (processed message ids per
/// consumer), the outbox (messages committed with the effects that caused them, until they
/// are published: a published row is deleted) and the message journal (``MessageJournal``).
public enum RuntimeSchema {
    /// Creates the runtime's tables if they are missing, then runs `handlerMigration` for the
    /// worker's own, all in one transaction. Idempotent; safe from several consumers and worker
    /// copies at once: an advisory lock serialises them (`create table if not exists` alone races
    /// on the catalog and fails with 23505).
    public static func migrate(
        _ database: PostgresConnection, then handlerMigration: (PostgresConnection) throws -> Void = { _ in }
    ) throws {
        try database.transaction { tx in
            try tx.query("select pg_advisory_xact_lock(7283001)")
            try tx.executeScript(
                """
                create table if not exists runtime_inbox (
                    consumer text not null,
                    message_id text not null,
                    processed_at timestamptz not null default now(),
                    primary key (consumer, message_id)
                );
                create table if not exists runtime_outbox (
                    id bigserial primary key,
                    message_id text not null unique,
                    exchange text not null,
                    routing_key text not null,
                    correlation_id text not null,
                    causation_id text,
                    message_type text not null,
                    app_id text not null,
                    created_at timestamptz not null default now(),
                    body bytea not null,
                    sent_at timestamptz,
                    publish_attempts int not null default 0,
                    last_error text
                );
                alter table runtime_outbox add column if not exists owner text;
                alter table runtime_outbox add column if not exists message_timestamp bigint;
                -- A row that failed waits until next_attempt_at; one that failed too often is
                -- parked (parked_at) until an operator retries it (commerce outbox retry).
                alter table runtime_outbox add column if not exists next_attempt_at timestamptz;
                alter table runtime_outbox add column if not exists parked_at timestamptz;
                -- The W3C trace context the message is published with (traceparent, tracestate).
                alter table runtime_outbox add column if not exists trace_parent text;
                alter table runtime_outbox add column if not exists trace_state text;
                create index if not exists runtime_outbox_parked on runtime_outbox (id) where parked_at is not null;
                -- Rows are appended in time order, so a BRIN index finds old inbox rows for
                -- retention at a fraction of a B-tree's cost per insert.
                drop index if exists runtime_inbox_processed_at;
                create index if not exists runtime_inbox_processed_brin on runtime_inbox using brin (processed_at);
                -- Published rows are deleted (earlier versions kept them, marked by sent_at).
                drop index if exists runtime_outbox_unsent;
                drop index if exists runtime_outbox_sent_at;
                delete from runtime_outbox where sent_at is not null;
                """)
            try tx.executeScript(MessageJournal.schema)
            try handlerMigration(tx)
        }
    }
}
