import AMQP
import CommerceMessages
import Foundation
import Postgres
import Testing

/// What a saga worker's integration test needs, with names of its own: an exchange, a PostgreSQL
/// database (or a MongoDB database name), a queue per worker started, and a watch queue bound to
/// the event types the test wants to see emitted. Workers run as real processes, configured only
/// by environment (no `config/` in their working directory) on the fixture's names.
public final class ServiceFixture: TestFixture {
    /// A PostgreSQL database of the test's own (created on first use by ``databaseURL``).
    public let database: String
    /// A MongoDB database name of the test's own (dropped by the test if it used it).
    public let mongoDatabase: String
    public let watchQueue: String
    /// The payment-gateway started by ``startGateway(_:)``, if any (killed with the fixture).
    public private(set) var gateway: GatewayProcess?

    /// - Parameter watching: event types (routing keys) copied to ``watchQueue`` for the test to read.
    public init(watching: [MessageType] = []) throws {
        let suffix = TestServers.uniqueSuffix()
        database = "svc_\(suffix)"
        mongoDatabase = "svc_\(suffix)"
        watchQueue = "svc-watch-\(suffix)"
        try super.init(suffix: suffix, exchange: "svc-\(suffix)", connectionName: "service-test")
        try declareWatchQueue(watchQueue, routingKeys: watching.map(\.rawValue))
    }

    deinit {
        // The gateway goes before the databases the base class drops.
        if let process = gateway?.process, process.process.isRunning { process.kill9() }
    }

    /// The test's PostgreSQL database, created on first use.
    public var databaseURL: String {
        get throws { try databaseURL(named: database) }
    }

    /// A database of the test's own for `service` (`orders`, `inventory` …), for tests that run
    /// several workers, each with its own store as in production. Created on first use.
    public func databaseURL(for service: String) throws -> String {
        try databaseURL(named: "\(database)_\(service)")
    }

    /// A connection to the test's PostgreSQL database, to assert on what a worker stored.
    public func connectDatabase() throws -> PostgresConnection {
        try TestServers.postgres(url: try databaseURL)
    }

    /// The queue of `executable`'s workers: `stock-worker-1a2b3c4d`.
    public func queue(of executable: String) -> String { "\(executable)-\(suffix)" }

    /// The order-worker's price list and coupons: the repository's `config/pricing.json` and
    /// `config/coupons.json` (the fixture's workers read no `config/` of their own).
    public static let orderWorkerFiles = [
        "PRICING_FILE": TestServers.repositoryRoot.appendingPathComponent("config/pricing.json").path,
        "COUPONS_FILE": TestServers.repositoryRoot.appendingPathComponent("config/coupons.json").path,
    ]

    /// Starts `executable` (e.g. `stock-worker`) on a queue of its own bound to the fixture's
    /// exchange, with short retry delays, and waits until `/health` says ready. `environment`
    /// overrides or adds settings (`DATABASE_URL` defaults to ``databaseURL``; the order-worker
    /// gets ``orderWorkerFiles``). With `waitForReady` false it returns once the process runs.
    @discardableResult
    public func startWorker(
        _ executable: String, _ environment: [String: String] = [:], waitForReady: Bool = true
    ) throws -> WorkerProcess {
        let port = WorkerProcess.freePort()
        var settings: [String: String] = [
            "AMQP_URL": TestServers.amqpURL, "QUEUE_NAME": queue(of: executable), "EXCHANGE_NAME": exchange,
            "QUEUE_RETRY_DELAYS_MS": "300,600", "CONSUMER_MAX_ATTEMPTS": "3", "HTTP_PORT": "\(port)",
            "OUTBOX_RELAY_INTERVAL_MS": "500", "OUTBOX_RELAY_GRACE_MS": "1000", "LOG_LEVEL": "info",
        ]
        if environment["DATABASE_URL"] == nil { settings["DATABASE_URL"] = try databaseURL }
        if executable == "order-worker" { settings.merge(Self.orderWorkerFiles) { $1 } }
        settings.merge(environment) { $1 }
        return try startProcess(
            executable, settings: settings, httpPort: port, name: "\(executable)-\(suffix)-\(workers.count)",
            readyTimeout: waitForReady ? .seconds(30) : nil)
    }

    /// Starts a `payment-gateway` process on a database of the test's own (`…_gateway`) and
    /// returns the payment-worker's settings that select it (`PAYMENT_GATEWAY=http`, its URL and
    /// API key, short timeouts): merge them into `startWorker("payment-worker", …)`.
    @discardableResult
    public func startGateway(_ environment: [String: String] = [:]) throws -> [String: String] {
        let gateway = try GatewayProcess(
            databaseURL: try databaseURL(for: "gateway"), name: "payment-gateway-\(suffix)", environment: environment)
        self.gateway = gateway
        return [
            "PAYMENT_GATEWAY": "http", "PAYMENT_HTTP_URL": gateway.baseURL, "PAYMENT_HTTP_API_KEY": gateway.apiKey,
            "PAYMENT_HTTP_TIMEOUT_MS": "5000", "PAYMENT_HTTP_MAX_ATTEMPTS": "3",
        ]
    }

    /// Publishes `message` to the exchange as an upstream or another worker would: persistent,
    /// confirmed, with the contract's properties and `headers` (a `traceparent`, say). Returns its
    /// message id.
    @discardableResult
    public func publish(
        _ message: some ContractMessage, messageID: String = Envelope.newMessageID(), causationID: String? = nil,
        appID: String = "service-test", headers extraHeaders: AMQPTable = [:]
    ) throws -> String {
        var headers = extraHeaders
        if let causationID { headers["causation_id"] = .string(causationID) }
        let type = type(of: message).messageType.rawValue
        let properties = AMQPProperties(
            contentType: "application/json", headers: headers, deliveryMode: 2, correlationID: message.orderID,
            messageID: messageID, timestamp: UInt64(Date().timeIntervalSince1970), type: type, appID: appID)
        try amqp.publish(
            channel: channel, exchange: exchange, routingKey: type, properties: properties, body: message.encodedBody())
        try confirmPublishes()
        return messageID
    }

    /// Waits until the watch queue has at least `count` events, then takes all of them (acked),
    /// decoded with the contract. Fails the test (and returns what arrived) after `timeout`.
    public func events(_ count: Int, timeout: Duration = .seconds(30)) throws -> [AnyMessage] {
        try waitUntil("\(count) event(s) on the watch queue", timeout: timeout, { try depth(watchQueue) }) {
            $0 >= count
        }
        var events: [AnyMessage] = []
        while let delivery = try amqp.get(channel: channel, queue: watchQueue, autoAck: true) {
            events.append(try AnyMessage.decode(type: delivery.properties.type ?? "", body: delivery.body))
        }
        return events
    }

    /// Messages in the dead-letter queue of `executable`'s queue.
    public func deadLetters(of executable: String) throws -> [AMQPDelivery] {
        try drain("\(queue(of: executable)).dlq")
    }
}
