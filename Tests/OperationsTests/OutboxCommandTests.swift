import CommerceTestKit
import Foundation
import Postgres
import Testing

/// `commerce outbox` against a real probe-worker whose relay parked rows: the binary is run as a
/// process on the fixture's database (given as `--orders-database`), its `--json` output checked.
@Suite("commerce outbox")
struct OutboxCommandTests {
    /// `commerce outbox SUBCOMMAND orders ARGUMENTS… --orders-database <the fixture's database>`.
    private func outbox(_ fixture: ProbeFixture, _ arguments: [String], json: Bool = true) throws -> CommerceRun {
        var all = ["outbox", arguments[0], "orders"] + arguments.dropFirst()
        all += ["--orders-database", fixture.databaseURL]
        if json { all.append("--json") }
        return try runCommerce(all)
    }

    private func parkedIDs(_ run: CommerceRun) -> [Int64] {
        (run.json["rows"] as? [[String: Any]] ?? []).compactMap { ($0["id"] as? NSNumber)?.int64Value }
    }

    @Test("parked rows are listed, one is retried and delivered once its key is bound, then the rest with --all")
    func listAndRetry() throws {
        let fixture = try ProbeFixture()
        try fixture.startWorker(["OUTBOX_RELAY_INTERVAL_MS": "300", "OUTBOX_PARK_AFTER_ATTEMPTS": "1"])
        let key = "later.\(fixture.suffix)"
        let database = try TestServers.postgres(url: fixture.databaseURL)
        defer { database.close() }
        try database.query(
            """
            insert into runtime_outbox
                (message_id, exchange, routing_key, correlation_id, message_type, app_id, body, created_at)
            select 'later-' || g, $1, $2, 'order-outbox', $2, 'runtime-test', convert_to('{}', 'UTF8'),
                   now() - interval '1 hour'
            from generate_series(1, 3) g
            """, [.text(fixture.exchange), .text(key)])

        let listed = try waitUntil("three parked rows listed", timeout: .seconds(30), { try outbox(fixture, ["list"]) })
        {
            ($0.json["total"] as? Int) == 3
        }
        #expect(listed.status == 0)
        let ids = parkedIDs(listed)
        #expect(ids.count == 3)
        let first = try #require((listed.json["rows"] as? [[String: Any]])?.first)
        #expect(first["routing_key"] as? String == key)
        #expect(first["attempts"] as? Int == 1)
        #expect((first["last_error"] as? String)?.contains("NO_ROUTE") == true)
        let text = try outbox(fixture, ["list"], json: false)
        #expect(text.status == 0)
        #expect(text.stdout.contains("3 parked outbox row(s)"))
        #expect(text.stdout.contains(key))

        // Fix the cause (bind the key), then hand one row back to the relay.
        let watch = "outbox-watch-\(fixture.suffix)"
        try fixture.declareWatchQueue(watch, routingKeys: [key])
        let retried = try outbox(fixture, ["retry", "\(ids[0])"])
        #expect(retried.status == 0, "\(retried.stderr)")
        #expect((retried.json["retried"] as? [NSNumber])?.map(\.int64Value) == [ids[0]])
        try waitUntil("the retried row delivered", { try fixture.depth(watch) }) { $0 >= 1 }
        try waitUntil("two rows still parked", { try outbox(fixture, ["list"]).json["total"] as? Int }) { $0 == 2 }

        // An id that is no parked row: the others are still retried, the run exits 1 and says which.
        let mixed = try outbox(fixture, ["retry", "\(ids[1])", "99999999"], json: false)
        #expect(mixed.status == 1)
        #expect(mixed.stderr.contains("99999999"))
        let rest = try outbox(fixture, ["retry", "--all"])
        #expect(rest.status == 0)
        try waitUntil("every row delivered", { try fixture.depth(watch) }) { $0 >= 3 }
        try waitUntil(
            "nothing left in the outbox",
            {
                try database.query("select count(*) as n from runtime_outbox").rows[0].int("n")
            }
        ) { $0 == 0 }
        #expect(Set(try fixture.drain(watch).compactMap(\.properties.messageID)) == ["later-1", "later-2", "later-3"])
    }

    @Test("bad input and unreachable or foreign databases are reported with a reason and a non-zero exit")
    func errors() throws {
        let noIDs = try runCommerce(["outbox", "retry", "orders"])
        #expect(noIDs.status != 0)
        #expect(noIDs.stderr.contains("--all"))
        let unknownService = try runCommerce(["outbox", "list", "shipping"])
        #expect(unknownService.status != 0)
        let badLimit = try runCommerce(["outbox", "list", "orders", "--limit", "0"])
        #expect(badLimit.status != 0)

        // A database without a runtime outbox: a fresh one.
        let empty = try TestDatabase(prefix: "outbox_none")
        let foreign = try runCommerce(["outbox", "list", "orders", "--orders-database", empty.url, "--json"])
        #expect(foreign.status == 1)
        #expect((foreign.json["error"] as? String)?.contains("no runtime outbox") == true, "\(foreign.stdout)")

        let unreachable = try runCommerce([
            "outbox", "list", "orders", "--orders-database",
            "postgresql://commerce:secret-pw@127.0.0.1:1/orders?connect_timeout=2",
        ])
        #expect(unreachable.status == 1)
        #expect(unreachable.stderr.contains("cannot reach the orders database"))
        #expect(!unreachable.stderr.contains("secret-pw"))
    }
}
