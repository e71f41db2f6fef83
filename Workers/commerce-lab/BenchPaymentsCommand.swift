import AMQP
import ArgumentParser
import CommandLineSupport
import Foundation
import Lab
import Postgres

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
        let benchmark = PaymentsBenchmark(
            payments: payments, prepareConcurrency: prepareConcurrency, batchSize: batchSize, consumers: consumers,
            amqpURL: broker.resolvedURL, adminDatabaseURL: adminURL, binDirectory: bin)
        var runs: [Run] = []
        for latency in latencies {
            for repetition in 1...repetitions {
                let run = try benchmark.measure(latency: latency, amqp: amqp, admin: admin)
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
}
