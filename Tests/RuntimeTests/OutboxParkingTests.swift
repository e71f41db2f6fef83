import CommerceTestKit
import Foundation
import Postgres
import Testing

/// The relay against outbox rows that can never be delivered (docs/architecture.md, "PostgreSQL
/// store"): each failing row backs off and is parked after its budget, and none holds back the
/// rows written after it.
@Suite("Outbox relay: rows that keep failing")
struct OutboxParkingTests {
    /// Inserts `unroutable` rows to a routing key nothing binds, then one row to `probe.done`
    /// (which the fixture's watch queue binds), in one statement: ownerless and an hour old, so
    /// the worker's relay takes them at once.
    private func insertRows(
        _ fixture: ProbeFixture, unroutable: Int, unroutableKey: String, routableID: String
    ) throws {
        let database = try TestServers.postgres(url: fixture.databaseURL)
        defer { database.close() }
        try database.query(
            """
            insert into runtime_outbox
                (message_id, exchange, routing_key, correlation_id, message_type, app_id, body, created_at)
            select id, $1, key, 'order-outbox', key, 'runtime-test', convert_to('{}', 'UTF8'), now() - interval '1 hour'
            from (select 'stuck-' || g as id, $2::text as key, g from generate_series(1, $3::int) g
                  union all select $4::text, 'probe.done', $3::int + 1) as r
            order by g
            """,
            [.text(fixture.exchange), .text(unroutableKey), .int(Int64(unroutable)), .text(routableID)])
    }

    @Test(
        "300 unroutable outbox rows do not hold back a routable row written after them: it goes out in the same relay run"
    )
    func unroutableRowsDoNotBlock() throws {
        let fixture = try ProbeFixture()
        // A long interval: the first run after the insert must publish the routable row, since the
        // next one is far away (and the unroutable rows' backoff is as long).
        let worker = try fixture.startWorker(["OUTBOX_RELAY_INTERVAL_MS": "4000"])
        let routableID = "routable-\(UUID().uuidString.lowercased())"
        try insertRows(fixture, unroutable: 300, unroutableKey: "nowhere.\(fixture.suffix)", routableID: routableID)
        try waitUntil("the routable row", timeout: .seconds(30), { try fixture.depth(fixture.doneQueue) }) { $0 >= 1 }
        let database = try TestServers.postgres(url: fixture.databaseURL)
        defer { database.close() }
        let row = try database.query(
            "select count(*) as n, max(publish_attempts) as most, min(publish_attempts) as least from runtime_outbox"
        ).rows[0]
        #expect(try row.int("n") == 300, "every unroutable row is kept; the routable one is deleted")
        // Published in the run that first tried the stuck rows, not after them.
        #expect(try row.int("most") <= 1, "the routable row waited for a second run over the stuck rows")
        let delivered = try fixture.drain(fixture.doneQueue)
        #expect(delivered.map(\.properties.messageID) == [routableID])
        #expect(worker.process.isRunning)
    }

    @Test(
        "a row that keeps failing is parked after outbox.parkAfterAttempts, logged and counted, and no longer published"
    )
    func parkedAfterItsBudget() throws {
        let fixture = try ProbeFixture()
        let worker = try fixture.startWorker([
            "OUTBOX_RELAY_INTERVAL_MS": "300", "OUTBOX_PARK_AFTER_ATTEMPTS": "2", "OUTBOX_RETRY_MAX_DELAY_MS": "300",
        ])
        let routableID = "routable-\(UUID().uuidString.lowercased())"
        try insertRows(fixture, unroutable: 3, unroutableKey: "nowhere.\(fixture.suffix)", routableID: routableID)
        let database = try TestServers.postgres(url: fixture.databaseURL)
        defer { database.close() }
        try waitUntil(
            "three parked rows", timeout: .seconds(30),
            {
                try database.query("select count(*) as n from runtime_outbox where parked_at is not null").rows[0].int(
                    "n")
            }
        ) { $0 == 3 }
        let attempts = try database.query("select publish_attempts as a, last_error as e from runtime_outbox").rows
        #expect(try attempts.map { try $0.int("a") } == [2, 2, 2])
        #expect(try attempts.allSatisfy { try $0.string("e").contains("NO_ROUTE") })
        try waitUntil("the parked rows in the log", { worker.log }) {
            $0.components(separatedBy: "outbox row parked").count - 1 == 3
        }
        try waitUntil("the parked rows counted", { worker.http("/metrics")?.1 ?? "" }) {
            $0.contains("commerce_outbox_parked_total{queue=\"\(fixture.queue)\"} 3")
        }
        // Parked rows are left alone: several relay runs later they have not been tried again.
        Thread.sleep(forTimeInterval: 1.5)
        let after = try database.query("select max(publish_attempts) as a from runtime_outbox").rows[0].int("a")
        #expect(after == 2)
    }
}
