import Postgres

/// The order-worker's tables (docs/saga.md, "Each worker's rules"): `orders`, one row per order
/// id (the upstream's idempotency key), and `order_events`, every message applied to an order,
/// for its timeline.
public enum OrderSchema {
    /// Creates or upgrades the tables; idempotent (the runtime runs it at every connect, under
    /// its migration lock).
    public static func migrate(_ database: PostgresConnection) throws {
        try database.executeScript(
            """
            create table if not exists orders (
                order_id text primary key,
                customer jsonb,
                currency text,
                lines jsonb not null default '[]',
                address jsonb,
                payment_token text,
                coupon_code text,
                amounts jsonb,
                violations jsonb,
                status text not null,
                reason text,
                payment_id text,
                content_hash text,
                created_at timestamptz not null default now(),
                updated_at timestamptz not null default now()
            );
            create index if not exists orders_open_created on orders (created_at)
                where status in ('PENDING', 'STOCK_RESERVED');
            create table if not exists order_events (
                id bigserial primary key,
                order_id text not null,
                kind text not null,
                message_id text not null,
                created_at timestamptz not null default now()
            );
            create index if not exists order_events_order on order_events (order_id, id);
            """)
    }

    /// Records that `kind` (a message type) was applied to `orderID`; its result is not read.
    static let recordEvent =
        "insert into order_events (order_id, kind, message_id) values ($1, $2, $3)"
}
