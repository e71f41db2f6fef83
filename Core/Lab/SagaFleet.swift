import AMQP
import CommerceSupport
import FleetOperations
import Foundation
import Inventory
import LocalProcess
import Mongo
import Payments
import Postgres
import SagaAudit
import WorkerRuntime

/// The saga fleet as `commerce-lab bench` runs it (and the chaos run will): the four workers of
/// ``FleetCatalog`` as processes, `copies` of each, on names and stores of their own.
///
/// Every instance gets a fresh namespace, `bench-<suffix>`: the exchange, each worker's queue
/// (`order-worker-bench-<suffix>` and its retry and dead-letter queues), the databases
/// `bench_<suffix>_orders`, `_inventory`, `_payments` (and `_gateway`), created empty from the
/// admin database, and the MongoDB database `bench_<suffix>_notifications`, on a fresh
/// SecantusDB of its own unless an existing server was asked for. So a run starts from empty
/// stores as `scripts/run.sh` does, but never touches a running fleet's data and can run beside
/// other tests. The workers read the repository's `config/<worker>.json` (the working directory
/// is the parent of the configuration folder) and get the benchmark's settings as environment
/// overrides (docs/operations.md, "Running one worker by hand").
public final class SagaFleet {
    /// What the fleet looks like: the parameters of a run.
    public struct Shape: Encodable, Hashable {
        /// Processes of every worker.
        var copies: Int
        /// `consumer.prefetch`.
        var prefetch: Int
        /// `consumer.batchSize`.
        var batchSize: Int
        /// `queue.type`.
        var queueType: String
        /// `payment.gateway`: `sandbox` (in the payment-worker) or `http` (a payment-gateway process).
        var gateway: String
        /// More configuration for every worker process, as environment variables
        /// (`DATABASE_PLANNING=per-execution`): what a before-and-after run varies.
        var workerEnvironment: [String: String] = [:]

        public init(
            copies: Int, prefetch: Int, batchSize: Int, queueType: String, gateway: String,
            workerEnvironment: [String: String] = [:]
        ) {
            self.copies = copies
            self.prefetch = prefetch
            self.batchSize = batchSize
            self.queueType = queueType
            self.gateway = gateway
            self.workerEnvironment = workerEnvironment
        }
    }

    /// Where the notification-worker's MongoDB comes from.
    public enum MongoServer {
        /// A SecantusDB started for this fleet, run with this Python (see ``FreshSecantus``).
        case fresh(python: URL)
        /// A server that is already running.
        case existing(url: String)
    }

    public struct Settings {
        var amqpURL: String
        /// A database from which the fleet's databases are created and dropped.
        var adminDatabaseURL: String
        /// The SwiftPM bin folder with the worker executables (and payment-gateway for `http`).
        var binDirectory: URL
        /// The repository's `config/`; its parent is the processes' working directory.
        var configDirectory: URL
        /// Logs (`<member>.log`) and the stock seed go here.
        var logDirectory: URL
        var mongo: MongoServer
        /// For `http`: the key the payment-worker sends (`payment.http.apiKey`) and the gateway expects.
        var gatewayAPIKey: String
        /// For `http`: more environment for the payment-gateway process.
        var gatewayEnvironment: [String: String]
        /// Units of each of ``stockKeepingUnits`` to seed.
        var stockPerSKU: Int

        public init(
            amqpURL: String, adminDatabaseURL: String, binDirectory: URL, configDirectory: URL, logDirectory: URL,
            mongo: MongoServer, gatewayAPIKey: String, gatewayEnvironment: [String: String], stockPerSKU: Int
        ) {
            self.amqpURL = amqpURL
            self.adminDatabaseURL = adminDatabaseURL
            self.binDirectory = binDirectory
            self.configDirectory = configDirectory
            self.logDirectory = logDirectory
            self.mongo = mongo
            self.gatewayAPIKey = gatewayAPIKey
            self.gatewayEnvironment = gatewayEnvironment
            self.stockPerSKU = stockPerSKU
        }
    }

    /// The SKUs the benchmark's orders use, as the C ceiling spreads its orders over 100.
    static let stockKeepingUnits = (0..<100).map { String(format: "BENCH-%03d", $0) }

    /// Environment variables passed through from ours to every process (see ``RuntimeBenchmark/inheritedVariables``).
    static let inheritedVariables = RuntimeBenchmark.inheritedVariables

    let shape: Shape
    let suffix: String
    let exchange: String
    /// Database URL per service: `orders`, `inventory`, `payments` (and `gateway`).
    let databaseURLs: [String: String]
    let mongoURL: String
    let mongoDatabase: String
    let processes: LocalFleet
    /// The fresh SecantusDB, when the fleet has one.
    private(set) var secantus: FreshSecantus?
    /// The payment gateway's API (``Shape/gateway`` `http`), once started: the audit reads its
    /// charges for the reconciliation (invariant 6).
    private(set) var gatewayURL: String?
    /// Each worker copy: its catalog entry, its member name in ``processes`` and its `/health` port.
    private(set) var workers: [(worker: FleetCatalog.Worker, name: String, port: Int)] = []
    private let settings: Settings
    private let admin: PostgresConnection
    private var createdDatabases: [String] = []

    /// The member name of the payment gateway process (``Shape/gateway`` `http`).
    static let gatewayMember = "payment-gateway"

    /// Creates the stores and starts the fleet (the gateway first, for `http`), waiting until
    /// every process reports ready on `/health`.
    /// - Throws: ``OperationFailure`` when a store cannot be created or a process does not start;
    ///   what was started is stopped again by ``tearDown(amqp:)``, which the caller must call
    ///   in every case, or released with this value.
    init(shape: Shape, settings: Settings, admin: PostgresConnection) throws {
        self.shape = shape
        self.settings = settings
        self.admin = admin
        // Hex digits only: the suffix also names databases.
        suffix = String(UUID().uuidString.lowercased().filter(\.isHexDigit).prefix(8))
        exchange = "bench-\(suffix)"
        mongoDatabase = "bench_\(suffix)_notifications"
        var urls: [String: String] = [:]
        for service in ["orders", "inventory", "payments"] + (shape.gateway == "http" ? ["gateway"] : []) {
            urls[service] = try RuntimeBenchmark.databaseURL(
                settings.adminDatabaseURL, database: "bench_\(suffix)_\(service)")
        }
        databaseURLs = urls
        switch settings.mongo {
        case .fresh(let python):
            let server = try FreshSecantus(python: python, logDirectory: settings.logDirectory)
            secantus = server
            mongoURL = server.url
        case .existing(let url):
            mongoURL = url
        }
        processes = LocalFleet(
            binDirectory: settings.binDirectory, workingDirectory: settings.configDirectory.deletingLastPathComponent(),
            logDirectory: settings.logDirectory,
            inheritedEnvironment: ProcessInfo.processInfo.environment.filter {
                Self.inheritedVariables.contains($0.key)
            })
    }

    /// Creates the databases, writes the stock seed and starts every process.
    func start() throws {
        for service in databaseURLs.keys.sorted() {
            let name = "bench_\(suffix)_\(service)"
            // Generated name, never input: identifiers cannot be statement parameters.
            do {
                try admin.query("create database \(name)")
            } catch {
                throw OperationFailure("cannot create the database \(name): \(OperationFailure.describe(error))")
            }
            createdDatabases.append(name)
        }
        let seed = settings.logDirectory.appendingPathComponent("stock-\(suffix).json")
        // The format of config/stock.json (StockCatalog).
        struct SeedFile: Encodable { var stock: [StockSeed] }
        let stock = SeedFile(
            stock: Self.stockKeepingUnits.map {
                StockSeed(sku: $0, name: "Bench item \($0)", quantity: settings.stockPerSKU)
            })
        try JSONEncoder().encode(stock).write(to: seed)

        var paymentSettings = ["PAYMENT_GATEWAY": shape.gateway]
        if shape.gateway == "http" {
            guard processes.hasExecutable("payment-gateway") else {
                throw OperationFailure(
                    "--gateway http needs the payment-gateway executable in \(settings.binDirectory.path); build it "
                        + "(`swift build -c release --product payment-gateway`) or use --gateway sandbox")
            }
            let (gateway, port) = try Self.gateway(
                databaseURL: databaseURLs["gateway"]!, apiKey: settings.gatewayAPIKey,
                environment: settings.gatewayEnvironment)
            try processes.start(gateway)
            try processes.waitUntilReady(timeout: .seconds(60))
            gatewayURL = "http://127.0.0.1:\(port)"
            paymentSettings["PAYMENT_HTTP_URL"] = gatewayURL
            paymentSettings["PAYMENT_HTTP_API_KEY"] = settings.gatewayAPIKey
        }
        let configuration = settings.configDirectory
        let own: [String: [String: String]] = [
            FleetCatalog.orderWorker.name: [
                "DATABASE_URL": databaseURLs["orders"]!,
                "PRICING_FILE": configuration.appendingPathComponent("pricing.json").path,
                "COUPONS_FILE": configuration.appendingPathComponent("coupons.json").path,
            ],
            FleetCatalog.stockWorker.name: ["DATABASE_URL": databaseURLs["inventory"]!, "STOCK_SEED_FILE": seed.path],
            FleetCatalog.paymentWorker.name: paymentSettings.merging(["DATABASE_URL": databaseURLs["payments"]!]) {
                $1
            },
            FleetCatalog.notificationWorker.name: ["DATABASE_URL": mongoURL, "DATABASE_NAME": mongoDatabase],
        ]
        for copy in 1...shape.copies {
            for worker in FleetCatalog.workers {
                let port = try LocalPorts.free()
                let name = shape.copies == 1 ? worker.name : "\(worker.name)#\(copy)"
                var environment = [
                    "AMQP_URL": settings.amqpURL, "EXCHANGE_NAME": exchange, "QUEUE_NAME": queue(of: worker),
                    "QUEUE_TYPE": shape.queueType, "CONSUMER_PREFETCH": "\(shape.prefetch)",
                    "CONSUMER_BATCH_SIZE": "\(shape.batchSize)", "HTTP_PORT": "\(port)", "LOG_LEVEL": "warning",
                ]
                environment.merge(own[worker.name] ?? [:]) { $1 }
                environment.merge(shape.workerEnvironment) { $1 }
                try processes.start(
                    LocalFleet.Member(name: name, executable: worker.name, environment: environment, healthPort: port))
                workers.append((worker, name, port))
            }
        }
        try processes.waitUntilReady(timeout: .seconds(90))
    }

    /// A payment-gateway process on free loopback ports, with its own database and API key, and
    /// the port it serves on. Its configuration keys (docs/payment-gateway.md): `api.key`,
    /// `http.port`, `admin.port` (loopback), `database.url`, `database.poolSize`; `environment`
    /// adds more (`FAULTS_LATENCY_MS`).
    public static func gateway(
        databaseURL: String, apiKey: String, environment: [String: String] = [:]
    ) throws -> (LocalFleet.Member, port: Int) {
        let port = try LocalPorts.free()
        let member = LocalFleet.Member(
            name: gatewayMember, executable: "payment-gateway",
            environment: [
                "HTTP_HOST": "127.0.0.1", "HTTP_PORT": "\(port)", "ADMIN_PORT": "\(try LocalPorts.free())",
                "DATABASE_URL": databaseURL, "DATABASE_POOL_SIZE": "16", "API_KEY": apiKey, "LOG_LEVEL": "warning",
            ].merging(environment) { $1 }, healthPort: port)
        return (member, port)
    }

    /// The queue of `worker` in this fleet's namespace.
    func queue(of worker: FleetCatalog.Worker) -> String { "\(worker.queue)-bench-\(suffix)" }

    /// Every broker queue of the fleet: each worker's queue, its retry queues and its dead-letter queue.
    var topologies: [Topology] {
        FleetCatalog.workers.map {
            Topology(exchange: exchange, queue: queue(of: $0), bindings: $0.bindings)
        }
    }

    /// Pids of the processes, by member name (workers and gateway).
    var processIdentifiers: [String: Int32] { processes.processIdentifiers }

    /// Audits the fleet's stores and, with the `http` gateway, reconciles the gateway's charges
    /// (`commerce audit`; with the sandbox invariant 6 is reported as not checked) until the report is clean or `within` has
    /// passed, and returns the last report: sales and notifications trail the terminal events, so
    /// a first look may be early. With `toleratingErrors` an audit that throws (a server still
    /// coming back after a fault) is tried again and the result is nil if none answered; without,
    /// the first error is thrown.
    func auditSettled(
        within: Duration, applicationName: String, toleratingErrors: Bool = false
    ) throws -> SagaAuditReport? {
        let stores = FleetStores(
            orders: databaseURLs["orders"]!, inventory: databaseURLs["inventory"]!, payments: databaseURLs["payments"]!,
            mongoURL: mongoURL, mongoDatabase: mongoDatabase)
        let deadline = ContinuousClock.now + within
        var report: SagaAuditReport?
        while true {
            do {
                report = try FleetAudit.run(
                    stores: stores, applicationName: applicationName, processor: processorBooks())
            } catch {
                if !toleratingErrors { throw error }
            }
            if report?.isClean == true || ContinuousClock.now >= deadline { return report }
            Thread.sleep(forTimeInterval: 1)
        }
    }

    /// The card processor's books as the audit reads them (``FleetAudit/processorBooks(gateway:url:apiKey:)``):
    /// the gateway's charges through its listing with `http`, not consulted with the sandbox.
    func processorBooks() -> SagaAudit.ProcessorBooks {
        FleetAudit.processorBooks(
            gateway: PaymentGatewayKind(rawValue: shape.gateway) ?? .sandbox, url: gatewayURL ?? "",
            apiKey: settings.gatewayAPIKey)
    }

    /// Stops every process (SIGTERM, 60 s) and says how each ended.
    func stop() -> [LocalFleet.Exit] { processes.stop(timeout: .seconds(60)) }

    /// Deletes the fleet's queues and exchange, drops its databases and stops its SecantusDB (or
    /// drops its MongoDB database on an existing server). Failures are ignored: the names are never reused.
    func tearDown(amqp: AMQPConnection) {
        _ = processes.stop(timeout: .seconds(30))
        if let channel = try? amqp.openChannel() {
            for topology in topologies {
                let names =
                    [topology.queue, topology.deadLetterQueue]
                    + topology.retryDelays.indices.map { topology.retryQueue(forTier: $0) }
                for name in names { _ = try? amqp.deleteQueue(channel: channel, name: name) }
            }
            _ = try? amqp.deleteQueue(channel: channel, name: PresenceStream.name(exchange: exchange))
            _ = try? amqp.deleteExchange(channel: channel, name: exchange)
            amqp.closeChannel(channel)
        }
        for name in createdDatabases {
            _ = try? admin.query("drop database if exists \(name) with (force)")
        }
        createdDatabases = []
        if let secantus {
            secantus.stop()
        } else if let client = try? MongoClient(uri: mongoURL) {
            try? client.dropDatabase(mongoDatabase)
        }
    }
}
