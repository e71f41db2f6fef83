import AMQP
import Configuration
import Foundation
import Postgres
import Testing
import WorkerRuntime

/// What every test that runs workers needs, with names of its own: a topic exchange, a broker
/// connection with a confirmed channel, throwaway PostgreSQL databases, and the worker processes
/// it starts. When released it kills the workers, deletes every queue of every ``Topology`` its
/// workers declared (the worker queue, its retry queues and its dead-letter queue) and the
/// queues it declared itself, deletes the exchange and drops the databases.
///
/// ``ProbeFixture`` (the runtime's probe-worker) and ``ServiceFixture`` (the saga's workers)
/// build on it.
open class TestFixture {
    /// The random part of every name the fixture makes.
    public let suffix: String
    public let exchange: String
    public private(set) var amqp: AMQPConnection
    /// A channel of ``amqp`` in confirm mode, for the test's publishes.
    public private(set) var channel: UInt16
    public private(set) var admin: PostgresConnection
    private let connectionName: String
    /// Every worker process started, in order.
    public private(set) var workers: [WorkerProcess] = []
    /// The topologies to delete, each once.
    private var topologies: [Topology] = []
    /// Queues the fixture declared outside any topology (watch queues).
    private var queues: [String] = []
    private var databases: [String: TestDatabase] = [:]

    /// Declares `exchange` (topic, durable) on a new connection named `connectionName`.
    public init(suffix: String, exchange: String, connectionName: String) throws {
        self.suffix = suffix
        self.exchange = exchange
        self.connectionName = connectionName
        amqp = try TestServers.amqp(connectionName)
        channel = try amqp.openChannel()
        try amqp.enableConfirms(channel: channel)
        try amqp.declareExchange(channel: channel, name: exchange, type: "topic", durable: true)
        admin = try TestServers.postgres()
    }

    deinit {
        for worker in workers where worker.process.isRunning { worker.kill9() }
        for worker in workers { _ = worker.waitForExit(timeout: .seconds(10)) }
        if let control = try? amqp.openChannel() {
            for name in topologies.flatMap({ $0.queues.map(\.name) }) + queues {
                _ = try? amqp.deleteQueue(channel: control, name: name)
            }
            // The presence stream the fixture's workers declare (PresenceStream).
            _ = try? amqp.deleteQueue(channel: control, name: exchange + ".presence")
            _ = try? amqp.deleteExchange(channel: control, name: exchange)
        }
        // The databases are dropped as `databases` is released, after the workers are gone.
    }

    /// New broker and database connections for the test itself, after a server restart.
    open func reconnect() throws {
        amqp = try TestServers.amqp(connectionName)
        channel = try amqp.openChannel()
        try amqp.enableConfirms(channel: channel)
        admin = try TestServers.postgres()
    }

    // MARK: - Resources

    /// The URL of the fixture's database `name`, created on first use (dropped with the fixture).
    public func databaseURL(named name: String) throws -> String {
        if let database = databases[name] { return database.url }
        let database = try TestDatabase(name: name, admin: admin)
        databases[name] = database
        return database.url
    }

    /// Deletes `topology`'s queues when the fixture is released.
    public func track(_ topology: Topology) {
        if !topologies.contains(where: { $0.queues.map(\.name) == topology.queues.map(\.name) }) {
            topologies.append(topology)
        }
    }

    /// Declares a quorum queue of the test's own bound to `routingKeys` on the exchange (a queue
    /// that watches what workers emit), deleted when the fixture is released.
    public func declareWatchQueue(_ name: String, routingKeys: [String]) throws {
        try amqp.declareQueue(channel: channel, name: name, arguments: ["x-queue-type": "quorum"])
        queues.append(name)
        for key in routingKeys {
            try amqp.bindQueue(channel: channel, queue: name, exchange: exchange, routingKey: key)
        }
    }

    // MARK: - Workers

    /// Starts the built `executable` with `settings` (its whole configuration: the fixture's
    /// processes read no `config/`), tracks the topology those settings make it declare, and
    /// waits until `/health` answers 200 when `readyTimeout` is given.
    public func startProcess(
        _ executable: String, settings: [String: String], httpPort: Int, name: String,
        readyTimeout: Duration? = .seconds(20)
    ) throws -> WorkerProcess {
        if let topology = Self.topology(declaredWith: settings) { track(topology) }
        let worker = try WorkerProcess(environment: settings, httpPort: httpPort, name: name, executable: executable)
        workers.append(worker)
        if let readyTimeout {
            try waitUntil(
                "\(executable) to report ready on /health", timeout: readyTimeout, { worker.http("/health")?.0 ?? 0 }
            ) { $0 == 200 }
        }
        return worker
    }

    /// The topology a worker started with `settings` declares, read from them as the worker reads
    /// its environment (``WorkerConfiguration``); nil for a process that is no worker.
    public static func topology(declaredWith settings: [String: String]) -> Topology? {
        guard let queue = settings["QUEUE_NAME"] else { return nil }
        let environment = ProcessInfo.processInfo.environment.merging(settings) { $1 }
        return try? WorkerConfiguration(
            reader: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: environment)),
            appID: "test-fixture", defaultQueue: queue, defaultBindings: []
        ).topology
    }

    // MARK: - Broker

    /// Waits for the broker's confirms of the publishes so far on ``channel``; the test fails
    /// unless every one is confirmed.
    public func confirmPublishes() throws {
        let outcomes = try amqp.waitForConfirms(channel: channel, timeout: .seconds(30))
        #expect(outcomes.values.allSatisfy { $0 == .confirmed }, "test publishes must be confirmed: \(outcomes)")
    }

    /// Ready messages in `name`.
    public func depth(_ name: String) throws -> UInt32 {
        try amqp.queueStatus(channel: channel, name: name).messageCount
    }

    /// Takes every message now in `name` (acknowledged, so they are gone).
    public func drain(_ name: String) throws -> [AMQPDelivery] {
        var taken: [AMQPDelivery] = []
        while let delivery = try amqp.get(channel: channel, queue: name, autoAck: true) { taken.append(delivery) }
        return taken
    }
}
