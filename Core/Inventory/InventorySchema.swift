import Postgres

/// The stock worker's tables in the `inventory` database: `stock` (one row per SKU, its three
/// counters), `stock_movements` (the ledger every change of a counter writes to) and
/// `reservations` (per order: what is held, or the tombstone; docs/saga.md).
public enum InventorySchema {
    /// Creates the tables and indexes if they are missing. Idempotent; the worker runs it at every
    /// connect inside the runtime's migration transaction, and `commerce` may run it before seeding.
    public static func migrate(_ database: PostgresConnection) throws(PostgresError) {
        // The checks are the last guard of invariant 4 (docs/saga.md): a counter never goes negative,
        // whatever a handler computes.
        try database.executeScript(
            """
            create table if not exists stock (
                sku text primary key,
                available int not null check (available >= 0),
                reserved int not null check (reserved >= 0),
                sold int not null check (sold >= 0)
            );
            create table if not exists stock_movements (
                id bigserial primary key,
                sku text not null,
                order_id text,
                kind text not null check (kind in ('reserve', 'release', 'sell', 'restock', 'adjust')),
                quantity int not null,
                created_at timestamptz not null default now()
            );
            create index if not exists stock_movements_sku on stock_movements (sku);
            create index if not exists stock_movements_order on stock_movements (order_id);
            create table if not exists reservations (
                order_id text primary key,
                status text not null check (status in ('reserved', 'sold', 'released', 'rejected', 'cancelled')),
                lines jsonb not null,
                updated_at timestamptz not null default now()
            );
            """)
    }
}
