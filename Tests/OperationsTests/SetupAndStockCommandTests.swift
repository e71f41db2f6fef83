import AMQP
import CommerceTestKit
import Foundation
import Inventory
import Mongo
import Postgres
import Testing
import WorkerRuntime

/// `commerce setup` and `commerce stock`, run as the built binary against the real servers, on
/// names of the test's own: the fixture's exchange, queues suffixed with its suffix (the queue
/// names `ServiceFixture.startWorker` gives workers), databases created per test and a MongoDB
/// database dropped at the end.
@Suite(.serialized)
struct SetupAndStockCommandTests {
    typealias Run = CommerceRun

    static func commerce(_ arguments: [String]) throws -> Run { try runCommerce(arguments) }

    /// The setup arguments for the fixture's names: its exchange, queues `<worker>-<suffix>`, the
    /// retry delays `startWorker` gives workers, its service databases and MongoDB database.
    static func setupArguments(_ fixture: ServiceFixture) throws -> [String] {
        [
            "setup", "--json", "--exchange", fixture.exchange, "--queue-suffix=-\(fixture.suffix)",
            "--retry-delays-ms", "300,600", "--amqp-url", TestServers.amqpURL,
            "--orders-database", try fixture.databaseURL(for: "orders"),
            "--inventory-database", try fixture.databaseURL(for: "inventory"),
            "--payments-database", try fixture.databaseURL(for: "payments"),
            "--mongo-url", MongoTestSupport.url, "--mongo-database", fixture.mongoDatabase,
        ]
    }

    /// Deletes every queue setup declares for the fixture and drops its MongoDB database.
    static func cleanUp(_ fixture: ServiceFixture) {
        if let connection = try? TestServers.amqp("setup-test-cleanup") {
            for worker in FleetCatalog.workers {
                let topology = Topology(
                    exchange: fixture.exchange, queue: "\(worker.queue)-\(fixture.suffix)", bindings: [],
                    retryDelays: [.milliseconds(300), .milliseconds(600)])
                for (name, _) in topology.queues {
                    if let channel = try? connection.openChannel() {
                        _ = try? connection.deleteQueue(channel: channel, name: name)
                    }
                }
            }
            connection.close()
        }
        if let client = try? MongoTestSupport.connectedClient() { try? client.dropDatabase(fixture.mongoDatabase) }
    }

    static func states(_ report: [String: Any]) -> [String: String] {
        var states: [String: String] = [:]
        for queue in report["queues"] as? [[String: Any]] ?? [] {
            states[queue["name"] as? String ?? "?"] = queue["state"] as? String
        }
        return states
    }

    @Test("setup --dry-run connects to nothing and prints who may send what, with the rabbitmqctl commands")
    func setupDryRunPrintsIdentities() throws {
        // Port 1: nothing listens there, so a connection attempt would fail the command.
        let arguments = [
            "setup", "--dry-run", "--exchange", "shop", "--queue-suffix=-blue",
            "--amqp-url", "amqp://nobody:dry-run-secret@127.0.0.1:1/%2F",
        ]
        let json = try Self.commerce(arguments + ["--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let plan = try json.requiredJSON()
        let identities = (plan["broker_identities"] as? [String: Any])?["identities"] as? [[String: Any]] ?? []
        let byParty = Dictionary(
            uniqueKeysWithValues: identities.compactMap { identity in
                (identity["party"] as? String).map { ($0, identity) }
            })
        #expect(
            Set(byParty.keys)
                == ["order-worker", "stock-worker", "payment-worker", "notification-worker", "operator", "upstream"])
        #expect(byParty["upstream"]?["publishes"] as? [String] == ["order.place", "order.cancel"])
        #expect(
            byParty["stock-worker"]?["topic_write"] as? String
                == #"^(stock\.reserved|stock\.rejected|stock\.released)$"#)
        #expect((byParty["stock-worker"]?["read"] as? String)?.contains("shop|stock-worker-blue") == true)
        #expect(byParty["operator"]?["user"] as? String == "commerce-operator")
        let commands = (plan["broker_identities"] as? [String: Any])?["commands"] as? [String] ?? []
        #expect(commands.contains { $0.hasPrefix("rabbitmqctl set_topic_permissions -p / upstream 'shop' ") })
        #expect(!json.stdout.contains("dry-run-secret"), "passwords are never printed")

        let text = try Self.commerce(arguments)
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("payment-worker") && text.stdout.contains("rabbitmqctl add_user upstream"))
        #expect(text.stdout.contains("stock-worker-blue.dlq"))
        #expect(!text.stdout.contains("dry-run-secret"))
    }

    @Test func setupCreatesThenReportsExisting() throws {
        let fixture = try ServiceFixture()
        defer { Self.cleanUp(fixture) }
        let first = try Self.commerce(try Self.setupArguments(fixture))
        #expect(first.status == 0, "\(first.stderr)")
        let report = try first.requiredJSON()
        let states = Self.states(report)
        // Four workers, each with its queue, its .dlq and two retry queues.
        #expect(states.count == 16, "\(states)")
        #expect(states.values.allSatisfy { $0 == "created" }, "\(states)")
        #expect(states["stock-worker-\(fixture.suffix).retry.300ms"] == "created")
        let databases = report["databases"] as? [[String: Any]] ?? []
        #expect(databases.count == 3)
        let inventory = databases.first { $0["service"] as? String == "inventory" }
        let created = Set(inventory?["created_tables"] as? [String] ?? [])
        #expect(
            created.isSuperset(of: ["runtime_inbox", "runtime_outbox", "stock", "stock_movements", "reservations"]))
        let mongo = report["mongo"] as? [String: Any]
        #expect(
            (mongo?["created_indexes"] as? [String])?.contains("order_id_1") == true, "\(String(describing: mongo))")
        #expect(!first.stdout.contains("commerce:commerce@"), "passwords are never printed")

        let second = try Self.commerce(try Self.setupArguments(fixture))
        #expect(second.status == 0, "\(second.stderr)")
        let again = try second.requiredJSON()
        #expect(again["exchange_state"] as? String == "exists")
        let secondStates = Self.states(again)
        #expect(secondStates.count == 16)
        #expect(secondStates.values.allSatisfy { $0 == "exists" }, "\(secondStates)")
        for database in again["databases"] as? [[String: Any]] ?? [] {
            #expect((database["created_tables"] as? [String])?.isEmpty == true, "\(database)")
        }
        #expect(((again["mongo"] as? [String: Any])?["created_indexes"] as? [String])?.isEmpty == true)

        // Text output says the same.
        var textArguments = try Self.setupArguments(fixture)
        textArguments.removeAll { $0 == "--json" }
        let text = try Self.commerce(textArguments)
        #expect(text.status == 0)
        #expect(text.stdout.contains("queue order-worker-\(fixture.suffix): exists"), "\(text.stdout)")
    }

    @Test func setupRefusesAQueueOfAnotherType() throws {
        let fixture = try ServiceFixture()
        defer { Self.cleanUp(fixture) }
        // A deployment of the payment-worker with QUEUE_TYPE=classic: its dead-letter queue, declared
        // first, differs only in its type.
        let classic = Topology(
            exchange: fixture.exchange, queue: "payment-worker-\(fixture.suffix)",
            bindings: FleetCatalog.paymentWorker.bindings, queueType: .classic,
            retryDelays: [.milliseconds(300), .milliseconds(600)])
        try classic.declare(on: fixture.amqp, channel: try fixture.amqp.openChannel())
        let queue = classic.deadLetterQueue
        let run = try Self.commerce(try Self.setupArguments(fixture).filter { $0 != "--json" })
        #expect(run.status == 1, "stdout: \(run.stdout) stderr: \(run.stderr)")
        let errorLines = run.stderr.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
        #expect(errorLines.count == 1, "\(run.stderr)")
        #expect(run.stderr.contains("'\(queue)'"), "\(run.stderr)")
        #expect(run.stderr.contains("x-queue-type"), "\(run.stderr)")
    }

    @Test func stockWorkerStartsOnWhatSetupDeclared() throws {
        let fixture = try ServiceFixture()
        defer { Self.cleanUp(fixture) }
        let run = try Self.commerce(try Self.setupArguments(fixture))
        #expect(run.status == 0, "\(run.stderr)")
        // The worker declares nothing: setup must have made everything it needs, as it declares it.
        let worker = try fixture.startWorker(
            "stock-worker", ["DATABASE_URL": try fixture.databaseURL(for: "inventory"), "QUEUE_DECLARE": "false"])
        #expect(worker.http("/health")?.0 == 200)
        // And a worker that declares on start finds nothing inequivalent.
        let declaring = try fixture.startWorker(
            "stock-worker", ["DATABASE_URL": try fixture.databaseURL(for: "inventory")])
        #expect(declaring.http("/health")?.0 == 200)
    }

    @Test func stockSetImportShowRoundTrip() throws {
        let fixture = try ServiceFixture()
        let url = try fixture.databaseURL(for: "inventory")
        let sku = "KB-\(fixture.suffix)"
        func stock(_ arguments: [String]) throws -> Run {
            try Self.commerce(["stock"] + arguments + ["--inventory-database", url])
        }

        let created = try stock(["set", sku, "10", "--name", "Keyboard", "--json"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try created.requiredJSON()["adjustment"] as? Int == 10)
        let lowered = try stock(["set", sku, "4", "--json"])
        #expect(lowered.status == 0, "\(lowered.stderr)")
        #expect(try lowered.requiredJSON()["previous"] as? Int == 10)
        #expect(try lowered.requiredJSON()["adjustment"] as? Int == -6)

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("stock-\(fixture.suffix).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(
            """
            {"stock": [{"sku": "\(sku)", "name": "Keyboard", "quantity": 7},
                       {"sku": "MS-\(fixture.suffix)", "quantity": 3}]}
            """.utf8
        ).write(to: file)
        let imported = try stock(["import", file.path])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(imported.stdout.contains("\(sku) (Keyboard): available 4 → 7 (adjust +3)"), "\(imported.stdout)")
        #expect(imported.stdout.contains("MS-\(fixture.suffix): created, available 3"), "\(imported.stdout)")
        let reimported = try stock(["import", file.path, "--json"])
        #expect(reimported.status == 0)
        let changes = try reimported.requiredJSON()["changes"] as? [[String: Any]] ?? []
        #expect(changes.count == 2 && changes.allSatisfy { $0["adjustment"] as? Int == 0 }, "\(changes)")

        let shown = try stock(["show", sku, "--json"])
        #expect(shown.status == 0, "\(shown.stderr)")
        let entries = try shown.requiredJSON()["skus"] as? [[String: Any]] ?? []
        #expect(entries.count == 1)
        let entry = try #require(entries.first)
        #expect(entry["available"] as? Int == 7)
        #expect(entry["reserved"] as? Int == 0)
        #expect(entry["sold"] as? Int == 0)
        #expect((entry["movements"] as? [String: Int])?["adjust"] == 7)
        #expect((entry["violations"] as? [String])?.isEmpty == true)
        let all = try stock(["show"])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(all.stdout.contains("MS-\(fixture.suffix)"))

        let database = try TestServers.postgres(url: url)
        #expect(try InventoryAudit.run(on: database).isEmpty)
        let ledger = try database.query(
            "select quantity from stock_movements where sku = $1 and kind = 'adjust' order by id", [.text(sku)])
        #expect(try ledger.rows.map { try $0.int("quantity") } == [10, -6, 3])
        database.close()

        let unknown = try stock(["show", "NOPE-\(fixture.suffix)"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("Error: "))

        for bad in [["set", sku, "-1"], ["set", sku, "1.5"], ["set", sku, "many"], ["set", sku, "--", "-3"]] {
            let run = try stock(bad)
            #expect(run.status == 64, "\(bad): \(run.stderr)")
        }
        let badFile = try stock(["import", "/nonexistent/stock.json"])
        #expect(badFile.status == 1, "\(badFile.stderr)")
    }
}
