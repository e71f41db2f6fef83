import AMQP
import ArgumentParser
import CommandLineSupport
import Foundation
import Inventory
import Mongo
import Notifications
import Ordering
import Payments
import Postgres
import WorkerRuntime

/// `commerce setup`: declares the fleet's broker topology and runs every service's migrations,
/// exactly as the workers do at start, so that workers may run with `QUEUE_DECLARE=false` and
/// without rights to create tables. Idempotent: a second run creates nothing and says so.
struct SetupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup",
        abstract: "Declare the fleet's exchange and queues and run every service's migrations.",
        discussion: """
            For each worker of the fleet (\(FleetCatalog.workers.map(\.name).joined(separator: ", "))): \
            its queue with its bindings, its retry queues and its dead-letter queue, declared as the \
            worker declares them; then, connected as each store's owning role (order_worker, \
            stock_worker, payment_worker unless --orders-database … name others), the runtime's tables and \
            the handler's tables in the orders, \
            inventory and payments databases, and the notification collection's indexes on MongoDB. \
            Reports what it created and what already existed. A queue that exists with other \
            arguments is not changed: the command stops with exit status 1 naming it. \
            --dry-run connects to nothing: it prints the topology it would declare and the broker \
            users of each party (who may send what, their permissions and topic permissions, and \
            the rabbitmqctl commands that create them; docs/security.md).
            """)

    @OptionGroup var broker: BrokerOptions

    @Option(help: ArgumentHelp("The topic exchange (the workers' EXCHANGE_NAME).", valueName: "name"))
    var exchange = FleetCatalog.exchange

    @Option(help: ArgumentHelp("Queue type, quorum or classic (the workers' QUEUE_TYPE).", valueName: "type"))
    var queueType = "quorum"

    @Option(
        help: ArgumentHelp(
            "Retry delays in milliseconds, comma-separated (the workers' QUEUE_RETRY_DELAYS_MS).", valueName: "ms,…"))
    var retryDelaysMs = "1000,5000,30000"

    @Option(help: ArgumentHelp("Quorum delivery limit (the workers' QUEUE_DELIVERY_LIMIT).", valueName: "n"))
    var deliveryLimit = Topology.defaultDeliveryLimit

    @Option(
        help: ArgumentHelp(
            "Appended to every worker queue's name, for a second fleet on one broker (QUEUE_NAME = <worker><suffix>).",
            valueName: "text"))
    var queueSuffix = ""

    @OptionGroup var stores: StoreOptions

    @Flag(help: "Connect to nothing: print the topology and the broker identities with their permissions.")
    var dryRun = false

    @OptionGroup var output: OutputOptions

    enum State: String, Encodable {
        case created, exists
        /// `--dry-run`: what would be declared.
        case planned
    }

    struct QueueReport: Encodable {
        var worker: String
        var name: String
        var state: State
        /// Routing keys bound to it on the exchange (the worker queue only).
        var bindings: [String]
    }

    struct DatabaseReport: Encodable {
        var service: String
        var database: String
        var createdTables: [String]
        var existingTables: [String]
    }

    struct MongoReport: Encodable {
        var url: String
        var database: String
        var collection: String
        var createdIndexes: [String]
        var existingIndexes: [String]
    }

    struct Report: Encodable {
        var broker: String
        var exchange: String
        var exchangeState: State
        var queues: [QueueReport]
        var databases: [DatabaseReport]
        var mongo: MongoReport
    }

    func validate() throws {
        guard Topology.QueueType(rawValue: queueType) != nil else {
            throw ValidationError("--queue-type must be 'quorum' or 'classic', not '\(queueType)'")
        }
        guard retryDelays != nil else {
            throw ValidationError("--retry-delays-ms needs one or more positive integers, got '\(retryDelaysMs)'")
        }
        guard deliveryLimit > 0 else { throw ValidationError("--delivery-limit must be positive") }
        guard !exchange.isEmpty, exchange.utf8.count <= 255 else {
            throw ValidationError("--exchange needs a name of 1 to 255 bytes")
        }
        guard FleetCatalog.workers.allSatisfy({ ($0.queue + queueSuffix).utf8.count <= 240 }) else {
            throw ValidationError("--queue-suffix makes queue names too long")
        }
    }

    private var retryDelays: [Duration]? {
        let parts = retryDelaysMs.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.count == parts.count, values.allSatisfy({ $0 > 0 }) else { return nil }
        return values.map { .milliseconds($0) }
    }

    /// The topology each worker declares with this command's settings.
    var topologies: [(worker: FleetCatalog.Worker, topology: Topology)] {
        FleetCatalog.workers.map { worker in
            (
                worker,
                Topology(
                    exchange: exchange, queue: worker.queue + queueSuffix, bindings: worker.bindings,
                    queueType: Topology.QueueType(rawValue: queueType) ?? .quorum,
                    retryDelays: retryDelays ?? [.seconds(1), .seconds(5), .seconds(30)], deliveryLimit: deliveryLimit)
            )
        }
    }

    /// What `--dry-run` prints.
    struct Plan: Encodable {
        var exchange: String
        var queues: [QueueReport]
        var brokerIdentities: BrokerIdentitiesPlan
    }

    func run() throws {
        if dryRun {
            let plan = Plan(
                exchange: exchange,
                queues: topologies.flatMap { worker, topology in
                    topology.queues.map {
                        QueueReport(
                            worker: worker.name, name: $0.name, state: .planned,
                            bindings: $0.name == topology.queue ? topology.bindings : [])
                    }
                }, brokerIdentities: BrokerIdentitiesPlan(exchange: exchange, queueSuffix: queueSuffix))
            if output.json {
                output.printJSON(plan)
            } else {
                print("Exchange \(exchange) (topic, durable), not declared (--dry-run):")
                for queue in plan.queues {
                    let bound = queue.bindings.isEmpty ? "" : " ← \(queue.bindings.joined(separator: ", "))"
                    print("  \(queue.worker): \(queue.name)\(bound)")
                }
                plan.brokerIdentities.printText()
            }
            return
        }
        let (exchangeState, queues) = try declareTopology()
        var databases: [DatabaseReport] = []
        let services: [(String, String, (PostgresConnection) throws -> Void)] = [
            // Migrations run as each store's owner (docs/security.md, "Database roles").
            ("orders", stores.url(.orders, role: StoreOptions.Store.orders.owner), { try OrderSchema.migrate($0) }),
            (
                "inventory", stores.url(.inventory, role: StoreOptions.Store.inventory.owner),
                { try StockHandler().migrate($0) }
            ),
            (
                "payments", stores.url(.payments, role: StoreOptions.Store.payments.owner),
                { try PaymentHandler(gateway: SandboxGateway()).migrate($0) }
            ),
        ]
        for (service, url, migration) in services {
            databases.append(try migrate(service: service, url: url, migration))
        }
        let mongo = try prepareMongo()
        let report = Report(
            broker: Setting.redacted(broker.resolvedURL), exchange: exchange, exchangeState: exchangeState,
            queues: queues, databases: databases, mongo: mongo)
        if output.json {
            output.printJSON(report)
        } else {
            printText(report)
        }
    }

    // MARK: - RabbitMQ

    private func declareTopology() throws -> (State, [QueueReport]) {
        let address = Setting.redacted(broker.resolvedURL)
        let connection: AMQPConnection
        do {
            connection = try AMQPConnection(configuration: broker.configuration(connectionName: "commerce setup"))
        } catch {
            try fail("cannot reach RabbitMQ at \(address): \(CommandFailure.describe(error))")
        }
        defer { connection.close() }
        var channel: UInt16 = 0
        func freshChannel() throws {
            // A 404 or 406 closes the channel, not the connection.
            if channel == 0 || !connection.isChannelOpen(channel) { channel = try connection.openChannel() }
        }
        /// Whether a passive declare finds the object; 404 means it does not exist.
        func exists(_ what: String, _ check: () throws(AMQPError) -> Void) throws -> Bool {
            do {
                try freshChannel()
                try check()
                return true
            } catch let error as AMQPError where error.replyCode == 404 {
                return false
            } catch {
                try fail("RabbitMQ at \(address) refused to check \(what): \(error)")
            }
        }

        let exchangeExisted = try exists("exchange '\(exchange)'") { () throws(AMQPError) in
            try connection.declareExchange(channel: channel, name: exchange, type: "topic", passive: true)
        }
        var reports: [QueueReport] = []
        for (worker, topology) in topologies {
            var existed: [String: Bool] = [:]
            for (name, _) in topology.queues {
                existed[name] = try exists("queue '\(name)'") { () throws(AMQPError) in
                    _ = try connection.queueStatus(channel: channel, name: name)
                }
            }
            do {
                try freshChannel()
                try topology.declare(on: connection, channel: channel)
            } catch let error as TopologyError {
                try fail("\(error)")
            } catch let error as AMQPError where error.replyCode == 406 {
                // Only the exchange is declared outside `Topology`'s 406 handling.
                try fail(
                    "exchange '\(exchange)' exists with other settings (it must be a durable topic exchange): \(error)")
            } catch {
                try fail("could not declare \(worker.name)'s topology on RabbitMQ at \(address): \(error)")
            }
            for (name, _) in topology.queues {
                reports.append(
                    QueueReport(
                        worker: worker.name, name: name, state: existed[name] == true ? .exists : .created,
                        bindings: name == topology.queue ? topology.bindings : []))
            }
        }
        return (exchangeExisted ? .exists : .created, reports)
    }

    // MARK: - PostgreSQL

    private func migrate(
        service: String, url: String, _ migration: @escaping (PostgresConnection) throws -> Void
    ) throws -> DatabaseReport {
        let address = Setting.redacted(url)
        do {
            let database = try PostgresConnection(url: url, applicationName: "commerce-setup")
            defer { database.close() }
            let listTables = "select tablename from pg_tables where schemaname = current_schema() order by tablename"
            let before = Set(try database.query(listTables).rows.map { try $0.string("tablename") })
            try RuntimeSchema.migrate(database, then: migration)
            let after = try database.query(listTables).rows.map { try $0.string("tablename") }
            return DatabaseReport(
                service: service, database: address, createdTables: after.filter { !before.contains($0) },
                existingTables: after.filter { before.contains($0) })
        } catch {
            try fail("could not migrate the \(service) database at \(address): \(CommandFailure.describe(error))")
        }
    }

    // MARK: - MongoDB

    private func prepareMongo() throws -> MongoReport {
        let url = stores.resolvedMongoURL
        let address = Setting.redacted(url)
        let handler = NotificationDocumentHandler()
        do {
            let client = try MongoClient(
                configuration: .init(uri: url, appName: "commerce-setup", serverSelectionTimeout: .seconds(5)))
            let collection = client.collection(handler.collection, in: stores.mongoDatabase)
            func indexes() throws -> [String] {
                let reply: Document
                do {
                    reply = try client.runCommand(
                        ["listIndexes": .string(handler.collection)], database: stores.mongoDatabase)
                } catch {
                    // NamespaceNotFound: no collection yet, so no index.
                    if error.serverCode == 26 { return [] }
                    throw error
                }
                let batch = reply["cursor"]?.documentValue?["firstBatch"]?.arrayValue ?? []
                return batch.compactMap { $0.documentValue?["name"]?.stringValue }
            }
            let before = Set(try indexes())
            try handler.prepare(collection)
            let after = try indexes()
            return MongoReport(
                url: address, database: stores.mongoDatabase, collection: handler.collection,
                createdIndexes: after.filter { !before.contains($0) },
                existingIndexes: after.filter { before.contains($0) })
        } catch {
            try fail(
                "could not prepare MongoDB at \(address) (database \(stores.mongoDatabase)): \(CommandFailure.describe(error))"
            )
        }
    }

    // MARK: - Output

    private func printText(_ report: Report) {
        print("RabbitMQ \(report.broker)")
        print("  exchange \(report.exchange): \(report.exchangeState.rawValue)")
        for queue in report.queues {
            let bound = queue.bindings.isEmpty ? "" : " (bound to \(queue.bindings.joined(separator: ", ")))"
            print("  queue \(queue.name): \(queue.state.rawValue)\(bound)")
        }
        for database in report.databases {
            print("PostgreSQL \(database.service) \(database.database)")
            print(
                "  created: \(database.createdTables.isEmpty ? "nothing" : database.createdTables.joined(separator: ", "))"
            )
            print(
                "  exists:  \(database.existingTables.isEmpty ? "nothing" : database.existingTables.joined(separator: ", "))"
            )
        }
        let mongo = report.mongo
        print("MongoDB \(mongo.url) \(mongo.database).\(mongo.collection)")
        print(
            "  created indexes: \(mongo.createdIndexes.isEmpty ? "nothing" : mongo.createdIndexes.joined(separator: ", "))"
        )
        print(
            "  existing indexes: \(mongo.existingIndexes.isEmpty ? "nothing" : mongo.existingIndexes.joined(separator: ", "))"
        )
    }

    /// Reports `message` (also as JSON with `--json`), then exits with status 1.
    private func fail(_ message: String) throws -> Never {
        if output.json {
            struct Failure: Encodable { var error: String }
            output.printJSON(Failure(error: message))
        }
        throw CommandFailure(message)
    }
}
