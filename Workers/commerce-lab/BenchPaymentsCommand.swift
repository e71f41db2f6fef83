import AMQP
import ArgumentParser
import CommandLineSupport
import CommerceMessages
import Foundation
import Lab
import LocalProcess
import Postgres
import WorkerRuntime

/// `commerce-lab bench-payments`: payments per second of one payment-worker charging through a real
/// `payment-gateway` process, with the gateway adding a fixed latency to every call (a card
/// processor answers in tens to hundreds of milliseconds). It shows whether the worker's gateway
/// calls run concurrently outside the transaction (docs/architecture.md, "Handlers"): with 50 ms
/// per call and batches of 64, calls made one after another would cap it near 20 payments/s.
struct BenchPaymentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-payments",
        abstract:
            "Measure one payment-worker's payments per second against the HTTP gateway, at given gateway latencies.",
        discussion: """
            For each latency: fresh databases and queues, a payment-gateway (FAULTS_LATENCY_MS) and one \
            payment-worker, N stock.reserved messages published at once, and the time from the first publish \
            to the N-th payment event. Figures are medians of --repeat runs.
            """)

    @OptionGroup var broker: BrokerOptions

    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "PostgreSQL URL of a database to create the run's databases from (env DATABASE_URL).", valueName: "url"))
    var databaseURL: String?

    @Option(help: ArgumentHelp("Payments per run.", valueName: "n"))
    var payments = 3000

    @Option(
        name: .customLong("latency-ms"), parsing: .upToNextOption,
        help: ArgumentHelp("Latencies the gateway adds to every call, one run each.", valueName: "ms"))
    var latencies: [Int] = [0, 50]

    @Option(help: ArgumentHelp("consumer.prepareConcurrency: gateway calls in flight.", valueName: "n"))
    var prepareConcurrency = 64

    @Option(help: ArgumentHelp("consumer.batchSize.", valueName: "n"))
    var batchSize = 64

    @Option(
        help: ArgumentHelp(
            "consumer.concurrency: consumers in the one process; with a slow gateway, one batch's calls overlap "
                + "another's commit.", valueName: "n"))
    var consumers = 1

    @Option(
        name: .customLong("repeat"), help: ArgumentHelp("Runs per latency; the median is reported.", valueName: "k"))
    var repetitions = 1

    @Option(
        help: ArgumentHelp(
            "The folder with payment-worker and payment-gateway (default: this commerce's own).", valueName: "path"))
    var binPath: String?

    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard payments > 0 else { throw ValidationError("--payments must be positive, not \(payments)") }
        guard !latencies.isEmpty, latencies.allSatisfy({ (0...10_000).contains($0) }) else {
            throw ValidationError("--latency-ms takes 0 to 10000 ms")
        }
        guard (1...1024).contains(prepareConcurrency) else {
            throw ValidationError("--prepare-concurrency must be 1 to 1024")
        }
        guard (1...1024).contains(batchSize) else { throw ValidationError("--batch-size must be 1 to 1024") }
        guard (1...20).contains(repetitions) else { throw ValidationError("--repeat must be 1 to 20") }
        guard (1...16).contains(consumers) else { throw ValidationError("--consumers must be 1 to 16") }
    }

    struct Run: Encodable {
        var latencyMs: Int
        var repetition: Int
        var payments: Int
        var seconds: Double
        var paymentsPerSecond: Double
    }

    struct Report: Encodable {
        var payments: Int
        var prepareConcurrency: Int
        var batchSize: Int
        var consumers: Int
        var runs: [Run]
        /// Median payments/s per latency (ms, as text).
        var medianPaymentsPerSecond: [String: Double]
    }

    func run() throws {
        let bin =
            binPath.map { URL(fileURLWithPath: $0).standardizedFileURL } ?? BenchHost.executableDirectory()
        for executable in ["payment-worker", "payment-gateway"]
        where !FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent(executable).path) {
            throw CommandFailure(
                "no \(executable) in \(bin.path): build it (`swift build -c release`) or pass --bin-path")
        }
        let adminURL = Setting.resolve(databaseURL, variable: "DATABASE_URL", default: Setting.defaultDatabaseURL)
        let amqp: AMQPConnection
        let admin: PostgresConnection
        do {
            amqp = try AMQPConnection(
                configuration: broker.configuration(connectionName: "commerce-lab bench-payments"))
            admin = try PostgresConnection(url: adminURL, applicationName: "commerce-bench-payments")
        } catch {
            throw CommandFailure("\(CommandFailure.describe(error)); \(CommandFailure.startServersHint)")
        }
        defer {
            admin.close()
            amqp.close()
        }
        var runs: [Run] = []
        for latency in latencies {
            for repetition in 1...repetitions {
                let run = try measure(latency: latency, bin: bin, amqp: amqp, admin: admin, adminURL: adminURL)
                runs.append(
                    Run(
                        latencyMs: latency, repetition: repetition, payments: payments,
                        seconds: run.rounded(toPlaces: 3),
                        paymentsPerSecond: (Double(payments) / run).rounded(toPlaces: 1)))
                if !outputOptions.json {
                    print(
                        String(
                            format: "gateway +%4d ms  run %d: %6d payments in %7.2f s = %8.1f payments/s",
                            latency, repetition, payments, run, Double(payments) / run))
                }
            }
        }
        var medians: [String: Double] = [:]
        for latency in latencies {
            let rates = runs.filter { $0.latencyMs == latency }.map(\.paymentsPerSecond).sorted()
            medians["\(latency)"] = rates[rates.count / 2]
        }
        let report = Report(
            payments: payments, prepareConcurrency: prepareConcurrency, batchSize: batchSize, consumers: consumers,
            runs: runs,
            medianPaymentsPerSecond: medians)
        if outputOptions.json {
            outputOptions.printJSON(report)
        } else {
            for latency in latencies {
                print(String(format: "median, gateway +%d ms: %.1f payments/s", latency, medians["\(latency)"] ?? 0))
            }
        }
    }

    /// One run: seconds from the first publish to the last payment event.
    private func measure(latency: Int, bin: URL, amqp: AMQPConnection, admin: PostgresConnection, adminURL: String)
        throws
        -> Double
    {
        let suffix = String(UUID().uuidString.lowercased().filter(\.isHexDigit).prefix(8))
        let exchange = "benchpay-\(suffix)"
        let queue = "payment-worker-benchpay-\(suffix)"
        let watch = "benchpay-watch-\(suffix)"
        var databases: [String] = []
        let logs = FileManager.default.temporaryDirectory.appendingPathComponent("benchpay-\(suffix)")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        let fleet = LocalFleet(
            binDirectory: bin, workingDirectory: FileManager.default.temporaryDirectory, logDirectory: logs,
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
            urls[service] = try RuntimeBenchmark.databaseURL(adminURL, database: name)
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
                    "AMQP_URL": broker.resolvedURL, "EXCHANGE_NAME": exchange, "QUEUE_NAME": queue,
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
            if !fleet.exited.isEmpty { throw CommandFailure("a process exited during the run: \(fleet.exited)") }
            if ContinuousClock.now >= deadline { throw CommandFailure("not every payment was made within 600 s") }
            Thread.sleep(forTimeInterval: 0.01)
        }
        return (ContinuousClock.now - started).seconds
    }
}
