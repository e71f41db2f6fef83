import AMQP
import ArgumentParser
import CommandLineSupport
import Foundation
import Mongo
import Postgres

/// `commerce smoke`: checks, against the real servers, everything the fleet relies on, and
/// removes what it created. The main job of `scripts/run.sh` at this stage of the project.
///
/// Each server gets its own sequence of steps; a failed step ends its server's sequence (the
/// later steps depend on it) but the other servers are still checked, so one run shows every
/// problem. Objects are named after a random run id, so concurrent runs do not collide.
struct SmokeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "smoke",
        abstract: "Check RabbitMQ, PostgreSQL and MongoDB end to end, then clean up.",
        discussion: """
            RabbitMQ: declares a temporary quorum queue, publishes a persistent JSON message with \
            full properties under publisher confirms, consumes it with a manual ack and checks body \
            and properties. PostgreSQL: creates a table and writes a row with a parameterized \
            statement in a transaction, reads it from a second connection, checks a rollback. \
            MongoDB: creates a unique index, inserts and finds a document, checks that a duplicate \
            is refused with code 11000. Exits 0 only if every check passed.
            """)

    static let appID = "commerce-smoke"
    static let defaultDatabaseURL = Setting.defaultDatabaseURL
    static let mongoDatabase = "commerce_smoke"
    /// The broker deletes the smoke queue by itself after this long unused (`x-expires`), in case
    /// the run dies before its clean-up.
    static let queueExpiry: Int64 = 120_000

    @OptionGroup var broker: BrokerOptions

    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "PostgreSQL URL or conninfo (env DATABASE_URL; default the commerce_test database).", valueName: "url"))
    var databaseURL: String?

    @Option(
        name: .customLong("mongo-url"),
        help: ArgumentHelp(
            "MongoDB URI (env MONGO_URL; default \(MongoClient.Configuration.defaultURI)).", valueName: "uri"))
    var mongoURL: String?

    @OptionGroup var output: OutputOptions

    func run() throws {
        // Hex digits only: the run id also names a PostgreSQL table (see checkPostgreSQL).
        let runID = String(UUID().uuidString.lowercased().filter(\.isHexDigit).prefix(8))
        let recorder = SmokeRecorder(printsProgress: !output.json, describe: CommandFailure.describe)
        checkRabbitMQ(recorder, runID: runID)
        checkPostgreSQL(recorder, runID: runID)
        checkMongoDB(recorder, runID: runID)

        let report = recorder.report
        if output.json {
            output.printJSON(report)
        } else {
            let failed = report.steps.filter { !$0.passed }
            if failed.isEmpty {
                print("✓ smoke passed: \(report.steps.count) checks in \(String(format: "%.1f", report.durationMs)) ms")
            } else {
                let names = failed.map { "\($0.component): \($0.name)" }.joined(separator: "; ")
                print("✗ smoke FAILED: \(failed.count) of \(report.steps.count) checks failed (\(names))")
            }
        }
        if !report.passed { throw ExitCode.failure }
    }

    // MARK: - RabbitMQ

    private func checkRabbitMQ(_ recorder: SmokeRecorder, runID: String) {
        recorder.begin(component: "rabbitmq", title: "RabbitMQ", address: Setting.redacted(broker.resolvedURL))
        let queue = "commerce.smoke.\(runID)"
        var connection: AMQPConnection?
        var declared = false
        do {
            let amqp = try recorder.step("connect") {
                try AMQPConnection(configuration: broker.configuration(connectionName: "commerce smoke \(runID)"))
            }
            connection = amqp
            var channel = try recorder.step("open a channel in publisher-confirm mode") {
                let channel = try amqp.openChannel()
                try amqp.enableConfirms(channel: channel)
                return channel
            }
            try recorder.step("declare quorum queue \(queue)") {
                try amqp.declareQueue(
                    channel: channel, name: queue, durable: true,
                    arguments: ["x-queue-type": "quorum", "x-expires": .int(Self.queueExpiry)])
            }
            declared = true
            let message = try SmokeMessage(runID: runID, appID: Self.appID)
            try recorder.step("publish a persistent JSON message, confirmed") {
                let sequence = try amqp.publish(
                    channel: channel, exchange: "", routingKey: queue, mandatory: true,
                    properties: message.properties, body: message.body)
                let outcomes = try amqp.waitForConfirms(channel: channel, timeout: .seconds(10))
                guard let outcome = outcomes[sequence], outcome == .confirmed else {
                    throw CommandFailure(
                        "the broker answered \(outcomes[sequence].map { "\($0)" } ?? "nothing") instead of confirming")
                }
            }
            try recorder.step("consume with manual ack; body and properties match") {
                try amqp.setPrefetch(channel: channel, count: 1)
                let consumerTag = try amqp.consume(
                    channel: channel, queue: queue, consumerTag: "commerce-smoke-\(runID)")
                let delivery = try Self.nextDelivery(on: amqp, timeout: .seconds(10))
                let problems = message.mismatches(in: delivery, routingKey: queue)
                guard problems.isEmpty else {
                    try amqp.reject(channel: channel, deliveryTag: delivery.deliveryTag, requeue: false)
                    throw CommandFailure("the message came back changed: " + problems.joined(separator: "; "))
                }
                try amqp.ack(channel: channel, deliveryTag: delivery.deliveryTag)
                try amqp.cancel(channel: channel, consumerTag: consumerTag)
            }
            try recorder.step("ack held: queue empty after the channel closed") {
                // Closing the channel would requeue an unacknowledged message, so an empty queue
                // afterwards shows the broker took the ack.
                amqp.closeChannel(channel)
                channel = try amqp.openChannel()
                let status = try amqp.queueStatus(channel: channel, name: queue)
                guard status.messageCount == 0 else {
                    throw CommandFailure("\(status.messageCount) message(s) back in the queue: the ack was lost")
                }
            }
        } catch {
            // Recorded by the step that failed; the clean-up below still runs.
        }
        if let connection, declared {
            recorder.cleanup("delete queue \(queue)") {
                do {
                    let channel = try connection.openChannel()
                    try connection.deleteQueue(channel: channel, name: queue)
                    connection.closeChannel(channel)
                } catch {
                    throw CommandFailure(
                        "\(CommandFailure.describe(error)); the broker deletes the queue by itself after "
                            + "\(Self.queueExpiry / 1000) s unused")
                }
            }
        }
        connection?.close()
    }

    /// The next delivery on `connection`, or an error after `timeout`.
    private static func nextDelivery(on connection: AMQPConnection, timeout: Duration) throws -> AMQPDelivery {
        let deadline = ContinuousClock.now + timeout
        while true {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else { throw CommandFailure("no delivery within \(timeout)") }
            switch try connection.nextEvent(timeout: remaining) {
            case .delivery(let delivery)?:
                return delivery
            case .channelClosed(_, let error)?:
                throw error
            case .consumerCancelled(_, let tag)?:
                throw CommandFailure("the broker cancelled consumer '\(tag)'")
            case .connectionBlocked, .connectionUnblocked, nil:
                continue
            }
        }
    }

    // MARK: - PostgreSQL

    private func checkPostgreSQL(_ recorder: SmokeRecorder, runID: String) {
        let url = Setting.resolve(databaseURL, variable: "DATABASE_URL", default: Self.defaultDatabaseURL)
        recorder.begin(component: "postgresql", title: "PostgreSQL", address: Setting.redacted(url))
        // Identifiers cannot be bound as parameters. This one is built from the run id's hex
        // digits only, never from input; every value below travels as a parameter.
        let table = "commerce_smoke_\(runID)"
        let rowID = UUID().uuidString.lowercased()
        let note = "it's a \"smoke\" test: ünïcödé, 한국어 ✓"
        var connection: PostgresConnection?
        var created = false
        do {
            let database = try recorder.step("connect") {
                try PostgresConnection(url: url, applicationName: Self.appID)
            }
            connection = database
            try recorder.step("create a table and insert a row in one transaction") {
                try database.transaction { database in
                    try database.query(
                        "create table \(table) (id uuid primary key, note text not null, amount bigint not null)")
                    let result = try database.query(
                        "insert into \(table) (id, note, amount) values ($1, $2, $3)",
                        [.text(rowID), .text(note), .int(45_000)])
                    guard result.affectedRows == 1 else {
                        throw CommandFailure("insert reported \(result.affectedRows) rows, expected 1")
                    }
                }
            }
            created = true
            try recorder.step("read the committed row from a second connection") {
                let reader = try PostgresConnection(url: url, applicationName: Self.appID)
                defer { reader.close() }
                let rows = try reader.query("select note, amount from \(table) where id = $1", [.text(rowID)]).rows
                guard rows.count == 1 else { throw CommandFailure("found \(rows.count) rows, expected 1") }
                let (readNote, readAmount) = (try rows[0].string("note"), try rows[0].int("amount"))
                guard readNote == note, readAmount == 45_000 else {
                    throw CommandFailure("read back (\(readNote), \(readAmount)), wrote (\(note), 45000)")
                }
            }
            try recorder.step("a rolled-back insert leaves nothing") {
                struct RollBack: Error {}
                do {
                    try database.transaction { database in
                        try database.query(
                            "insert into \(table) (id, note, amount) values ($1, $2, $3)",
                            [.text(UUID().uuidString), .text("rolled back"), .int(1)])
                        throw RollBack()
                    }
                } catch is RollBack {}
                let count = try database.query("select count(*) as count from \(table)").rows[0].int("count")
                guard count == 1 else { throw CommandFailure("\(count) rows after the rollback, expected 1") }
            }
        } catch {
            // Recorded by the step that failed.
        }
        if let connection, created {
            recorder.cleanup("drop table \(table)") { try connection.query("drop table \(table)") }
        }
        connection?.close()
    }

    // MARK: - MongoDB

    private func checkMongoDB(_ recorder: SmokeRecorder, runID: String) {
        let url = Setting.resolve(mongoURL, variable: "MONGO_URL", default: MongoClient.Configuration.defaultURI)
        recorder.begin(
            component: "mongodb", title: "MongoDB", address: "\(Setting.redacted(url)) (database \(Self.mongoDatabase))"
        )
        let collectionName = "smoke_\(runID)"
        var created: MongoCollection?
        do {
            let client = try recorder.step("connect (ping)") {
                let client = try MongoClient(configuration: MongoClient.Configuration(uri: url, appName: Self.appID))
                try client.ping()
                return client
            }
            let collection = client.collection(collectionName, in: Self.mongoDatabase)
            try recorder.step("create collection \(collectionName), unique index on event_id") {
                try collection.createIndex(["event_id": 1], unique: true)
            }
            created = collection
            let eventID = UUID().uuidString.lowercased()
            // BSON dates are whole milliseconds: compare on that.
            let createdAt = Int64(Date().timeIntervalSince1970 * 1000)
            let document: Document = [
                "event_id": .string(eventID), "order_id": .string("smoke-\(runID)"),
                "note": "a \"smoke\" test: ünïcödé, 한국어 ✓", "amount": 45_000,
                "items": [["sku": "KB-001", "quantity": 2]],
                "created_at": .date(Date(timeIntervalSince1970: Double(createdAt) / 1000)),
            ]
            try recorder.step("insert a document") { try collection.insertOne(document) }
            try recorder.step("find it by event_id; fields match") {
                guard let found = try collection.findOne(["event_id": .string(eventID)]) else {
                    throw CommandFailure("no document with event_id \(eventID)")
                }
                for (key, value) in document where key != "created_at" && found[key] != value {
                    throw CommandFailure("field '\(key)' read back as \(found[key].map { "\($0)" } ?? "missing")")
                }
                let readAt = found["created_at"]?.dateValue.map { Int64(($0.timeIntervalSince1970 * 1000).rounded()) }
                guard readAt == createdAt else { throw CommandFailure("field 'created_at' read back differently") }
            }
            try recorder.step("a second insert of the event_id is refused (11000)") {
                do {
                    try collection.insertOne(["event_id": .string(eventID), "note": "duplicate"])
                    throw CommandFailure("a duplicate event_id was accepted: the unique index is not enforced")
                } catch let error as MongoError where error.isDuplicateKey {
                    // What an idempotent notification store relies on.
                }
                let count = try collection.countDocuments(["event_id": .string(eventID)])
                guard count == 1 else { throw CommandFailure("\(count) documents with the event_id, expected 1") }
            }
        } catch {
            // Recorded by the step that failed.
        }
        if let created {
            recorder.cleanup("drop collection \(collectionName)") { try created.drop() }
        }
    }
}
