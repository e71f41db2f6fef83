import AMQP
import CommerceMessages
import Foundation
import Postgres
import Testing

/// What a saga worker's integration test needs, with names of its own: an exchange, a PostgreSQL
/// database (or a MongoDB database name), a queue per worker started, and a watch queue bound to
/// the event types the test wants to see emitted. Workers run as real processes, configured only
/// by environment (no `config/` in their working directory) on the fixture's names.
final class ServiceFixture {
    let suffix: String
    let exchange: String
    /// A PostgreSQL database of the test's own (created on first use by ``databaseURL``).
    let database: String
    /// A MongoDB database name of the test's own (dropped by the test if it used it).
    let mongoDatabase: String
    let watchQueue: String
    private(set) var amqp: AMQPConnection
    private(set) var channel: UInt16
    private let admin: PostgresConnection
    private var databaseCreated = false
    /// Databases of named services (``databaseURL(for:)``), created on first use.
    private var serviceDatabases: Set<String> = []
    /// Every worker process started, in order.
    private(set) var workers: [WorkerProcess] = []
    /// The payment-gateway started by ``startGateway(_:)``, if any (killed with the fixture).
    private(set) var gateway: GatewayProcess?
    private var queues: [String] = []

    /// - Parameter watching: event types (routing keys) copied to ``watchQueue`` for the test to read.
    init(watching: [MessageType] = []) throws {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        self.suffix = suffix
        exchange = "svc-\(suffix)"
        database = "svc_\(suffix)"
        mongoDatabase = "svc_\(suffix)"
        watchQueue = "svc-watch-\(suffix)"
        amqp = try TestServers.amqp("service-test")
        channel = try amqp.openChannel()
        try amqp.enableConfirms(channel: channel)
        try amqp.declareExchange(channel: channel, name: exchange, type: "topic", durable: true)
        try amqp.declareQueue(channel: channel, name: watchQueue, arguments: ["x-queue-type": "quorum"])
        for type in watching {
            try amqp.bindQueue(channel: channel, queue: watchQueue, exchange: exchange, routingKey: type.rawValue)
        }
        admin = try TestServers.postgres()
    }

    deinit {
        for worker in workers where worker.process.isRunning { worker.kill9() }
        for worker in workers { _ = worker.waitForExit(timeout: .seconds(10)) }
        if let control = try? amqp.openChannel() {
            for queue in queues {
                for name in [queue, "\(queue).dlq"]
                    + ["300ms", "600ms", "1s", "5s", "30s"].map({ "\(queue).retry.\($0)" })
                {
                    _ = try? amqp.deleteQueue(channel: control, name: name)
                }
            }
            _ = try? amqp.deleteQueue(channel: control, name: watchQueue)
            _ = try? amqp.deleteExchange(channel: control, name: exchange)
        }
        if databaseCreated { _ = try? admin.query("drop database if exists \(database) with (force)") }
        for name in serviceDatabases { _ = try? admin.query("drop database if exists \(name) with (force)") }
    }

    /// The test's PostgreSQL database, created on first use.
    var databaseURL: String {
        get throws {
            if !databaseCreated {
                // Generated name, never input: identifiers cannot be statement parameters.
                try admin.query("create database \(database)")
                databaseCreated = true
            }
            return "postgresql://commerce:commerce@127.0.0.1:5432/\(database)?connect_timeout=5"
        }
    }

    /// A database of the test's own for `service` (`orders`, `inventory` …), for tests that run
    /// several workers, each with its own store as in production. Created on first use.
    func databaseURL(for service: String) throws -> String {
        let name = "\(database)_\(service)"
        if !serviceDatabases.contains(name) {
            // Generated name, never input: identifiers cannot be statement parameters.
            try admin.query("create database \(name)")
            serviceDatabases.insert(name)
        }
        return "postgresql://commerce:commerce@127.0.0.1:5432/\(name)?connect_timeout=5"
    }

    /// A connection to the test's PostgreSQL database, to assert on what a worker stored.
    func connectDatabase() throws -> PostgresConnection {
        try TestServers.postgres(url: try databaseURL)
    }

    /// Starts `executable` (e.g. `stock-worker`) on a queue of its own bound to the fixture's
    /// exchange, with short retry delays, and waits until `/health` says ready. `environment`
    /// overrides or adds settings (`DATABASE_URL` defaults to ``databaseURL``).
    @discardableResult
    func startWorker(_ executable: String, _ environment: [String: String] = [:]) throws -> WorkerProcess {
        let binary = ProbeFixture.binary(executable)
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            Issue.record("no \(executable) at \(binary.path): build it with `swift build` (scripts/test.sh does)")
            throw CocoaError(.fileNoSuchFile)
        }
        let queue = "\(executable)-\(suffix)"
        if !queues.contains(queue) { queues.append(queue) }
        let port = ProbeFixture.freePort()
        var settings: [String: String] = [
            "AMQP_URL": TestServers.amqpURL, "QUEUE_NAME": queue, "EXCHANGE_NAME": exchange,
            "QUEUE_RETRY_DELAYS_MS": "300,600", "CONSUMER_MAX_ATTEMPTS": "3", "HTTP_PORT": "\(port)",
            "OUTBOX_RELAY_INTERVAL_MS": "500", "OUTBOX_RELAY_GRACE_MS": "1000", "LOG_LEVEL": "info",
        ]
        if environment["DATABASE_URL"] == nil { settings["DATABASE_URL"] = try databaseURL }
        settings.merge(environment) { $1 }
        let worker = try WorkerProcess(
            environment: settings, httpPort: port, name: "\(executable)-\(suffix)-\(workers.count)",
            executable: executable)
        workers.append(worker)
        try waitUntil(
            "\(executable) to report ready on /health", timeout: .seconds(30), { worker.http("/health")?.0 ?? 0 }
        ) {
            $0 == 200
        }
        return worker
    }

    /// Starts a `payment-gateway` process on a database of the test's own (`…_gateway`) and
    /// returns the payment-worker's settings that select it (`PAYMENT_GATEWAY=http`, its URL and
    /// API key, short timeouts): merge them into `startWorker("payment-worker", …)`.
    @discardableResult
    func startGateway(_ environment: [String: String] = [:]) throws -> [String: String] {
        let gateway = try GatewayProcess(
            databaseURL: try databaseURL(for: "gateway"), name: "payment-gateway-\(suffix)", environment: environment)
        self.gateway = gateway
        return [
            "PAYMENT_GATEWAY": "http", "PAYMENT_HTTP_URL": gateway.baseURL, "PAYMENT_HTTP_API_KEY": gateway.apiKey,
            "PAYMENT_HTTP_TIMEOUT_MS": "5000", "PAYMENT_HTTP_MAX_ATTEMPTS": "3",
        ]
    }

    /// Publishes `message` to the exchange as an upstream or another worker would: persistent,
    /// confirmed, with the contract's properties. Returns its message id.
    @discardableResult
    func publish(
        _ message: some ContractMessage, messageID: String = Envelope.newMessageID(), causationID: String? = nil,
        appID: String = "service-test"
    ) throws -> String {
        var headers: AMQPTable = [:]
        if let causationID { headers["causation_id"] = .string(causationID) }
        let type = type(of: message).messageType.rawValue
        let properties = AMQPProperties(
            contentType: "application/json", headers: headers, deliveryMode: 2, correlationID: message.orderID,
            messageID: messageID, timestamp: UInt64(Date().timeIntervalSince1970), type: type, appID: appID)
        try amqp.publish(
            channel: channel, exchange: exchange, routingKey: type, properties: properties, body: message.encodedBody())
        let outcomes = try amqp.waitForConfirms(channel: channel, timeout: .seconds(30))
        #expect(outcomes.values.allSatisfy { $0 == .confirmed }, "test publishes must be confirmed: \(outcomes)")
        return messageID
    }

    /// Waits until the watch queue has at least `count` events, then takes all of them (acked),
    /// decoded with the contract. Fails the test (and returns what arrived) after `timeout`.
    func events(_ count: Int, timeout: Duration = .seconds(30)) throws -> [AnyMessage] {
        try waitUntil("\(count) event(s) on the watch queue", timeout: timeout, { try depth(watchQueue) }) {
            $0 >= count
        }
        var events: [AnyMessage] = []
        while let delivery = try amqp.get(channel: channel, queue: watchQueue, autoAck: true) {
            events.append(try AnyMessage.decode(type: delivery.properties.type ?? "", body: delivery.body))
        }
        return events
    }

    /// Ready messages in `name`.
    func depth(_ name: String) throws -> UInt32 {
        try amqp.queueStatus(channel: channel, name: name).messageCount
    }

    /// Messages in the dead-letter queue of `executable`'s queue.
    func deadLetters(of executable: String) throws -> [AMQPDelivery] {
        var taken: [AMQPDelivery] = []
        while let delivery = try amqp.get(channel: channel, queue: "\(executable)-\(suffix).dlq", autoAck: true) {
            taken.append(delivery)
        }
        return taken
    }
}
