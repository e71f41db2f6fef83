import AMQP
import Foundation
import Inventory
import Mongo
import Notifications
import Ordering
import Payments
import Postgres
import WorkerRuntime

/// Declaring the fleet's broker topology and running every service's migrations, exactly as the
/// workers do at start, so that workers may run with `QUEUE_DECLARE=false` and without rights to
/// create tables: what `commerce setup` does. Idempotent: a second run creates nothing and
/// reports so.
public struct FleetSetup: Sendable {
    /// The exchange (`EXCHANGE_NAME`).
    public var exchange: String
    /// The queue type (`QUEUE_TYPE`).
    public var queueType: Topology.QueueType
    /// The retry delays (`QUEUE_RETRY_DELAYS_MS`), one retry queue each.
    public var retryDelays: [Duration]
    /// The quorum delivery limit (`QUEUE_DELIVERY_LIMIT`).
    public var deliveryLimit: Int
    /// Appended to every worker queue's name, for a second fleet on one broker.
    public var queueSuffix: String
    /// Replicas of each quorum queue (`QUEUE_QUORUM_INITIAL_GROUP_SIZE`); `nil`: the broker's default.
    public var quorumInitialGroupSize: Int?

    public init(
        exchange: String = FleetCatalog.exchange, queueType: Topology.QueueType = .quorum,
        retryDelays: [Duration] = [.seconds(1), .seconds(5), .seconds(30)], deliveryLimit: Int = 20,
        queueSuffix: String = "", quorumInitialGroupSize: Int? = nil
    ) {
        self.exchange = exchange
        self.queueType = queueType
        self.retryDelays = retryDelays
        self.deliveryLimit = deliveryLimit
        self.queueSuffix = queueSuffix
        self.quorumInitialGroupSize = quorumInitialGroupSize
    }

    /// Whether an object was there before.
    public enum State: String, Encodable, Sendable {
        case created, exists
        /// A plan: what would be declared.
        case planned
    }

    public struct QueueReport: Encodable, Sendable {
        public var worker: String
        public var name: String
        public var state: State
        /// Routing keys bound to it on the exchange (the worker queue only).
        public var bindings: [String]
    }

    public struct DatabaseReport: Encodable, Sendable {
        public var service: String
        /// The database's URL, its password redacted.
        public var database: String
        public var createdTables: [String]
        public var existingTables: [String]
    }

    public struct MongoReport: Encodable, Sendable {
        /// The URL, its password redacted.
        public var url: String
        public var database: String
        public var collection: String
        public var createdIndexes: [String]
        public var existingIndexes: [String]
    }

    /// What a run created and found.
    public struct Report: Encodable, Sendable {
        public var broker: String
        public var exchange: String
        public var exchangeState: State
        public var queues: [QueueReport]
        /// The presence stream the copies announce themselves on (``PresenceStream``).
        public var presence: QueueReport
        public var databases: [DatabaseReport]
        public var mongo: MongoReport
    }

    /// What a run would declare, and the broker users of each party (``BrokerIdentitiesPlan``).
    public struct Plan: Encodable, Sendable {
        public var exchange: String
        public var queues: [QueueReport]
        public var brokerIdentities: BrokerIdentitiesPlan
    }

    /// The stream every copy announces itself on (``PresenceStream``): `<exchange>.presence`.
    public var presenceStream: String { PresenceStream.name(exchange: exchange) }

    /// The topology each worker declares with these settings.
    public var topologies: [(worker: FleetCatalog.Worker, topology: Topology)] {
        FleetCatalog.workers.map { worker in
            (
                worker,
                Topology(
                    exchange: exchange, queue: worker.queue + queueSuffix, bindings: worker.bindings,
                    queueType: queueType, retryDelays: retryDelays, deliveryLimit: deliveryLimit,
                    quorumInitialGroupSize: quorumInitialGroupSize)
            )
        }
    }

    /// The plan, connecting to nothing.
    public var plan: Plan {
        Plan(
            exchange: exchange,
            queues: topologies.flatMap { worker, topology in
                topology.queues.map {
                    QueueReport(
                        worker: worker.name, name: $0.name, state: .planned,
                        bindings: $0.name == topology.queue ? topology.bindings : [])
                }
            }, brokerIdentities: BrokerIdentitiesPlan(exchange: exchange, queueSuffix: queueSuffix))
    }

    /// Declares the topology on `connection` (`address` names the broker in the report and in
    /// errors: give it with its password redacted), then migrates each store of `stores`
    /// (connected as each one's owning role, docs/security.md) and prepares the notification
    /// collection's indexes.
    /// - Throws: ``OperationFailure`` naming what could not be declared, migrated or prepared;
    ///   a queue that exists with other arguments is not changed and is named.
    public func run(stores: FleetStores, on connection: AMQPConnection, address: String) throws -> Report {
        let (exchangeState, queues) = try declareTopology(on: connection, address: address)
        let presence = try declarePresenceStream(on: connection, address: address)
        let services: [(String, String, (PostgresConnection) throws -> Void)] = [
            ("orders", stores.orders, { try OrderSchema.migrate($0) }),
            ("inventory", stores.inventory, { try StockHandler().migrate($0) }),
            ("payments", stores.payments, { try PaymentHandler(gateway: SandboxGateway()).migrate($0) }),
        ]
        var databases: [DatabaseReport] = []
        for (service, url, migration) in services {
            databases.append(try Self.migrate(service: service, url: url, migration))
        }
        let mongo = try Self.prepareMongo(url: stores.mongoURL, database: stores.mongoDatabase)
        return Report(
            broker: address, exchange: exchange, exchangeState: exchangeState, queues: queues, presence: presence,
            databases: databases, mongo: mongo)
    }

    // MARK: - RabbitMQ

    private func declareTopology(on connection: AMQPConnection, address: String) throws -> (State, [QueueReport]) {
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
                throw OperationFailure("RabbitMQ at \(address) refused to check \(what): \(error)")
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
                throw OperationFailure("\(error)")
            } catch let error as AMQPError where error.replyCode == 406 {
                // Only the exchange is declared outside `Topology`'s 406 handling.
                throw OperationFailure(
                    "exchange '\(exchange)' exists with other settings (it must be a durable topic exchange): \(error)")
            } catch {
                throw OperationFailure(
                    "could not declare \(worker.name)'s topology on RabbitMQ at \(address): \(error)")
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

    /// Declares the presence stream, which a worker whose user may not configure it cannot.
    private func declarePresenceStream(on connection: AMQPConnection, address: String) throws -> QueueReport {
        let name = presenceStream
        do {
            let channel = try connection.openChannel()
            defer { connection.closeChannel(channel) }
            var existed = true
            do {
                _ = try connection.queueStatus(channel: channel, name: name)
            } catch  where error.replyCode == 404 {
                existed = false
            }
            let declaring = try connection.isChannelOpen(channel) ? channel : connection.openChannel()
            defer { if declaring != channel { connection.closeChannel(declaring) } }
            try PresenceStream.declare(name: name, on: connection, channel: declaring)
            return QueueReport(worker: "fleet", name: name, state: existed ? .exists : .created, bindings: [])
        } catch {
            throw OperationFailure(
                "could not declare the presence stream '\(name)' on RabbitMQ at \(address) (an existing queue of that name must be a stream): \(error)"
            )
        }
    }

    // MARK: - PostgreSQL

    private static func migrate(
        service: String, url: String, _ migration: @escaping (PostgresConnection) throws -> Void
    ) throws -> DatabaseReport {
        let address = OperationFailure.redacted(url)
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
            throw OperationFailure(
                "could not migrate the \(service) database at \(address): \(OperationFailure.describe(error))")
        }
    }

    // MARK: - MongoDB

    private static func prepareMongo(url: String, database: String) throws -> MongoReport {
        let address = OperationFailure.redacted(url)
        let handler = NotificationDocumentHandler()
        do {
            let client = try MongoClient(
                configuration: .init(uri: url, appName: "commerce-setup", serverSelectionTimeout: .seconds(5)))
            let collection = client.collection(handler.collection, in: database)
            func indexes() throws -> [String] {
                let reply: Document
                do {
                    reply = try client.runCommand(["listIndexes": .string(handler.collection)], database: database)
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
                url: address, database: database, collection: handler.collection,
                createdIndexes: after.filter { !before.contains($0) },
                existingIndexes: after.filter { before.contains($0) })
        } catch {
            throw OperationFailure(
                "could not prepare MongoDB at \(address) (database \(database)): \(OperationFailure.describe(error))")
        }
    }
}
