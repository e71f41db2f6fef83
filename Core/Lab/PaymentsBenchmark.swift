import AMQP
import CommerceMessages
import CommerceSupport
import FleetOperations
import Foundation
import LocalProcess
import Postgres
import WorkerRuntime

/// The payment-worker alone against a card processor of its own (`commerce-lab bench-payments`):
/// `stock.reserved` events published straight to a payment-worker on an exchange, queues and
/// databases of the run's own, timed until every payment event is out.
public struct PaymentsBenchmark: Sendable {
    /// Payments per run.
    public var payments: Int
    /// The worker's and its HTTP client's concurrency (`CONSUMER_PREPARE_CONCURRENCY`,
    /// `PAYMENT_HTTP_CONCURRENCY`).
    public var prepareConcurrency: Int
    /// `CONSUMER_BATCH_SIZE`.
    public var batchSize: Int
    /// `CONSUMER_CONCURRENCY`.
    public var consumers: Int
    /// The broker the worker connects to.
    public var amqpURL: String
    /// A database the run's databases are created from (and named on).
    public var adminDatabaseURL: String
    /// Where `payment-worker` and `payment-gateway` are.
    public var binDirectory: URL

    public init(
        payments: Int, prepareConcurrency: Int, batchSize: Int, consumers: Int, amqpURL: String,
        adminDatabaseURL: String, binDirectory: URL
    ) {
        self.payments = payments
        self.prepareConcurrency = prepareConcurrency
        self.batchSize = batchSize
        self.consumers = consumers
        self.amqpURL = amqpURL
        self.adminDatabaseURL = adminDatabaseURL
        self.binDirectory = binDirectory
    }

    /// One run with the card processor `latency` ms slower than its own: seconds from the first
    /// publish to the last payment event. `admin` creates and drops the run's databases.
    /// - Throws: ``FleetOperations/OperationFailure`` when a process exits during the run or not
    ///   every payment is made within 600 s; what the broker, PostgreSQL or a process start throws.
    public func measure(latency: Int, amqp: AMQPConnection, admin: PostgresConnection) throws -> Double {
        let suffix = String(UUID().uuidString.lowercased().filter(\.isHexDigit).prefix(8))
        let exchange = "benchpay-\(suffix)"
        let queue = "payment-worker-benchpay-\(suffix)"
        let watch = "benchpay-watch-\(suffix)"
        var databases: [String] = []
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("benchpay-\(suffix)")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        let fleet = LocalFleet(
            binDirectory: binDirectory, workingDirectory: FileManager.default.temporaryDirectory, logDirectory: logs,
            inheritedEnvironment: ProcessInfo.processInfo.environment.filter {
                RuntimeBenchmark.inheritedVariables.contains($0.key)
            })
        let channel = try amqp.openChannel()
        defer {
            _ = fleet.stop(timeout: .seconds(30))
            let topology = Topology(exchange: exchange, queue: queue, bindings: FleetCatalog.paymentWorker.bindings)
            for name in [queue, topology.deadLetterQueue, watch]
                + topology.retryDelays.indices.map({ topology.retryQueue(forTier: $0) })
            {
                _ = try? amqp.deleteQueue(channel: channel, name: name)
            }
            _ = try? amqp.deleteQueue(channel: channel, name: PresenceStream.name(exchange: exchange))
            _ = try? amqp.deleteExchange(channel: channel, name: exchange)
            amqp.closeChannel(channel)
            for name in databases { _ = try? admin.query("drop database if exists \(name) with (force)") }
            try? FileManager.default.removeItem(at: logs)
        }
        var urls: [String: String] = [:]
        for service in ["payments", "gateway"] {
            // Generated name, never input: identifiers cannot be statement parameters.
            let name = "benchpay_\(suffix)_\(service)"
            try admin.query("create database \(name)")
            databases.append(name)
            urls[service] = try RuntimeBenchmark.databaseURL(adminDatabaseURL, database: name)
        }
        try amqp.declareExchange(channel: channel, name: exchange, type: "topic", durable: true)
        try amqp.declareQueue(channel: channel, name: watch, arguments: ["x-queue-type": "classic"])
        for key in ["payment.succeeded", "payment.failed"] {
            try amqp.bindQueue(channel: channel, queue: watch, exchange: exchange, routingKey: key)
        }
        let apiKey = "sk_test_bench_payments"
        let (gateway, gatewayPort) = try SagaFleet.gateway(
            databaseURL: urls["gateway"]!, apiKey: apiKey, environment: ["FAULTS_LATENCY_MS": "\(latency)"])
        try fleet.start(gateway)
        try fleet.waitUntilReady(timeout: .seconds(60))
        let workerPort = try LocalPorts.free()
        try fleet.start(
            LocalFleet.Member(
                name: "payment-worker", executable: "payment-worker",
                environment: [
                    "AMQP_URL": amqpURL, "EXCHANGE_NAME": exchange, "QUEUE_NAME": queue,
                    "DATABASE_URL": urls["payments"]!, "HTTP_PORT": "\(workerPort)", "LOG_LEVEL": "warning",
                    "PAYMENT_GATEWAY": "http", "PAYMENT_HTTP_URL": "http://127.0.0.1:\(gatewayPort)",
                    "PAYMENT_HTTP_API_KEY": apiKey, "PAYMENT_HTTP_CONCURRENCY": "\(prepareConcurrency)",
                    "CONSUMER_PREPARE_CONCURRENCY": "\(prepareConcurrency)", "CONSUMER_BATCH_SIZE": "\(batchSize)",
                    "CONSUMER_PREFETCH": "\(max(128, batchSize * 2))", "CONSUMER_CONCURRENCY": "\(consumers)",
                ], healthPort: workerPort))
        try fleet.waitUntilReady(timeout: .seconds(60))

        try amqp.enableConfirms(channel: channel)
        let started = ContinuousClock.now
        for index in 0..<payments {
            let orderID = "benchpay-\(suffix)-\(index)"
            let reserved = StockReserved(
                orderID: orderID, customerID: "bench", lines: [StockLine(sku: "BENCH-001", quantity: 1)],
                currency: .krw,
                amount: 10_000 + index % 1000, paymentToken: "tok_approve")
            try amqp.publish(
                channel: channel, exchange: exchange, routingKey: MessageType.stockReserved.rawValue,
                properties: AMQPProperties(
                    contentType: "application/json", deliveryMode: 2, correlationID: orderID,
                    messageID: Envelope.newMessageID(), timestamp: UInt64(Date().timeIntervalSince1970),
                    type: MessageType.stockReserved.rawValue, appID: "commerce-bench-payments"),
                body: reserved.encodedBody())
            if index % 500 == 499 { _ = try amqp.waitForConfirms(channel: channel, timeout: .seconds(60)) }
        }
        _ = try amqp.waitForConfirms(channel: channel, timeout: .seconds(60))
        let deadline = ContinuousClock.now + .seconds(600)
        while try amqp.queueStatus(channel: channel, name: watch).messageCount < payments {
            if !fleet.exited.isEmpty { throw OperationFailure("a process exited during the run: \(fleet.exited)") }
            if ContinuousClock.now >= deadline { throw OperationFailure("not every payment was made within 600 s") }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return (ContinuousClock.now - started).seconds
    }
}
