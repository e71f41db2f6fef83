import AMQP
import ArgumentParser
import CommandLineSupport
import FleetOperations
import Foundation
import WorkerRuntime

/// `commerce setup`: declares the fleet's broker topology and runs every service's migrations
/// (``FleetOperations/FleetSetup``), or with `--dry-run` prints the plan and the broker identities.
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
            "Replicas of each quorum queue, 3 on a three-node cluster (the workers' QUEUE_QUORUM_INITIAL_GROUP_SIZE; default: the broker's).",
            valueName: "n"))
    var quorumInitialGroupSize: Int?

    @Option(
        help: ArgumentHelp(
            "Appended to every worker queue's name, for a second fleet on one broker (QUEUE_NAME = <worker><suffix>).",
            valueName: "text"))
    var queueSuffix = ""

    @OptionGroup var stores: StoreOptions

    @Flag(help: "Connect to nothing: print the topology and the broker identities with their permissions.")
    var dryRun = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard Topology.QueueType(rawValue: queueType) != nil else {
            throw ValidationError("--queue-type must be 'quorum' or 'classic', not '\(queueType)'")
        }
        guard retryDelays != nil else {
            throw ValidationError("--retry-delays-ms needs one or more positive integers, got '\(retryDelaysMs)'")
        }
        guard deliveryLimit > 0 else { throw ValidationError("--delivery-limit must be positive") }
        if let size = quorumInitialGroupSize, size <= 0 {
            throw ValidationError("--quorum-initial-group-size must be a positive number of nodes, not \(size)")
        }
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

    /// The setup with this command's settings.
    var setup: FleetSetup {
        FleetSetup(
            exchange: exchange, queueType: Topology.QueueType(rawValue: queueType) ?? .quorum,
            retryDelays: retryDelays ?? [.seconds(1), .seconds(5), .seconds(30)], deliveryLimit: deliveryLimit,
            queueSuffix: queueSuffix, quorumInitialGroupSize: quorumInitialGroupSize)
    }

    func run() throws {
        if dryRun {
            let plan = setup.plan
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
        let address = Setting.redacted(broker.resolvedURL)
        let connection: AMQPConnection
        do {
            connection = try AMQPConnection(configuration: broker.configuration(connectionName: "commerce setup"))
        } catch {
            try fail("cannot reach RabbitMQ at \(address): \(CommandFailure.describe(error))")
        }
        defer { connection.close() }
        let report: FleetSetup.Report
        do {
            // Migrations run as each store's owner (docs/security.md, "Database roles").
            report = try setup.run(stores: stores.fleet(owners: true), on: connection, address: address)
        } catch let failure as OperationFailure {
            try fail(failure.description)
        }
        if output.json {
            output.printJSON(report)
        } else {
            printText(report)
        }
    }

    // MARK: - Output

    private func printText(_ report: FleetSetup.Report) {
        print("RabbitMQ \(report.broker)")
        print("  exchange \(report.exchange): \(report.exchangeState.rawValue)")
        for queue in report.queues {
            let bound = queue.bindings.isEmpty ? "" : " (bound to \(queue.bindings.joined(separator: ", ")))"
            print("  queue \(queue.name): \(queue.state.rawValue)\(bound)")
        }
        print("  presence stream \(report.presence.name): \(report.presence.state.rawValue)")
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
