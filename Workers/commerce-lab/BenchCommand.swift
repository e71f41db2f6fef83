import AMQP
import ArgumentParser
import CommandLineSupport
import Foundation
import Lab
import Postgres
import WorkerRuntime

/// `commerce-lab bench`: the saga benchmark. Starts the fleet on fresh stores, places N orders through
/// the broker as an upstream would, measures each from its `order.place` to its terminal event,
/// audits, and in the same invocation, on the same servers, runs the reference instruments (the C
/// ceiling of the same flow, the raw broker, the Celery peer) and prints the fleet's figures as
/// ratios to each. docs/benchmarks.md has the figures and what bounds them.
struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark the saga fleet against the C ceiling, the raw broker and the Celery peer.",
        discussion: """
            Each repetition: the fleet as fast as the broker confirms (flood), the C ceiling with the same \
            shape, the raw broker, the Celery peer, then the fleet and the ceiling each at --load-fraction of \
            its own flood rate. Every fleet run gets a fresh namespace (exchange, queues, databases \
            bench_<id>_orders/_inventory/_payments, MongoDB database) and, unless --mongo-url is given, a \
            fresh SecantusDB; so does every ceiling run: both start from the same state. A run whose audit \
            fails, or whose orders do not all end, is an error (exit 1), not a figure. Writes bench.json and \
            bench.svg (latency over time and percentiles) to --output.
            """)

    @OptionGroup var broker: BrokerOptions

    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "PostgreSQL URL of a database to create the fleet's databases from (env DATABASE_URL; default the "
                + "commerce_test database).", valueName: "url"))
    var databaseURL: String?

    @Option(help: ArgumentHelp("Orders per flood run (the ceiling runs the same number).", valueName: "n"))
    var orders = 20_000

    @Option(
        help: ArgumentHelp(
            "Place the orders at this many per second instead of as fast as possible (no flood, no ratios to "
                + "the floods; the ceiling runs at the same rate).", valueName: "r"))
    var rate: Double?

    @Option(help: ArgumentHelp("Processes of every worker (the ceiling's -c).", valueName: "k"))
    var copies = 1

    @Option(help: ArgumentHelp("consumer.prefetch of every worker (the ceiling's -p).", valueName: "n"))
    var prefetch = 128

    @Option(help: ArgumentHelp("consumer.batchSize of every worker (the ceiling's -b).", valueName: "n"))
    var batchSize = 64

    @Option(help: ArgumentHelp("queue.type: quorum (as the references) or classic.", valueName: "type"))
    var queueType = "quorum"

    @Option(
        help: ArgumentHelp(
            "The payment-worker's card processor: sandbox (in process) or http (a payment-gateway process from "
                + "the bin folder, started and stopped with the fleet).", valueName: "kind"))
    var gateway = "http"

    @Option(
        help: ArgumentHelp("Orders published before waiting for their confirms (the ceiling's -w).", valueName: "n"))
    var publishWindow = 1000

    @Option(name: .customLong("repeat"), help: ArgumentHelp("Repetitions; figures are medians.", valueName: "k"))
    var repetitions = 1

    @Option(
        help: ArgumentHelp(
            "After each flood, run the fleet (and the ceiling) at this fraction of its own flood rate; 0 skips it.",
            valueName: "f"))
    var loadFraction = 0.8

    @Option(help: ArgumentHelp("Seconds of orders in a fixed-rate run (N = rate × seconds).", valueName: "s"))
    var rateSeconds = 20.0

    @Flag(inversion: .prefixedNo, help: "Run the reference instruments (C ceiling, raw broker, Celery peer).")
    var references = true

    @Option(
        help: ArgumentHelp(
            "The folder of the reference instruments, with ceiling/run.sh and peer-celery/run.sh.",
            valueName: "path"))
    var referencesDirectory = "../shared/bench"

    @Option(help: ArgumentHelp("The Celery peer's prefork concurrency (its C).", valueName: "c"))
    var celeryConcurrency = 2

    @Option(help: ArgumentHelp("Orders of a Celery peer run (it is slow: about 100 orders/s here).", valueName: "n"))
    var celeryOrders = 2000

    @Option(
        help: ArgumentHelp(
            "Use this running MongoDB server instead of a fresh SecantusDB per run (it slows as its history grows, "
                + "so runs on it compare less well).", valueName: "url"))
    var mongoURL: String?

    @Option(help: ArgumentHelp("The Python with SecantusDB for fresh instances.", valueName: "path"))
    var secantusPython = ".venv/bin/python"

    @Option(
        help: ArgumentHelp(
            "The folder with the worker executables (default: this commerce's own folder).", valueName: "path"))
    var binPath: String?

    @Option(
        help: ArgumentHelp(
            "The repository's config folder (pricing.json, coupons.json, <worker>.json); its parent is the "
                + "workers' working directory.", valueName: "path"))
    var configDirectory = "config"

    @Option(
        help: ArgumentHelp(
            "Where bench.json, bench.svg and the logs go (default bench-results/<UTC time>).", valueName: "path"))
    var output: String?

    @Option(help: ArgumentHelp("Seconds the audit may wait for trailing work to settle.", valueName: "s"))
    var settle = 60

    @Option(help: ArgumentHelp("Seconds without any order ending before a run counts as stalled.", valueName: "s"))
    var stallTimeout = 60

    @Flag(help: "Keep each fleet run's queues, databases and MongoDB data (a fresh SecantusDB is still stopped).")
    var keepStores = false

    @Option(
        help: ArgumentHelp(
            "--gateway http: the API key the payment-worker sends (payment.http.apiKey) and the gateway is "
                + "given (its API_KEY); default a new random key per run.", valueName: "key"))
    var gatewayAPIKey: String?

    @Option(
        name: .customLong("gateway-env"),
        help: ArgumentHelp(
            "--gateway http: an environment variable for the gateway (repeatable).", valueName: "NAME=VALUE"))
    var gatewayEnvironment: [String] = []

    @Option(
        name: .customLong("worker-env"),
        help: ArgumentHelp(
            "An environment variable for every worker process (repeatable), such as "
                + "DATABASE_PLANNING=per-execution: a before-and-after run varies one.", valueName: "NAME=VALUE"))
    var workerEnvironment: [String] = []

    @OptionGroup var outputOptions: OutputOptions

    func validate() throws {
        guard orders > 0 else { throw ValidationError("--orders must be positive, not \(orders)") }
        if let rate, !(rate > 0 && rate.isFinite) {
            throw ValidationError("--rate must be a positive number, not \(rate)")
        }
        guard (1...64).contains(copies) else { throw ValidationError("--copies must be 1 to 64, not \(copies)") }
        guard (1...65535).contains(prefetch) else {
            throw ValidationError("--prefetch must be 1 to 65535, not \(prefetch)")
        }
        guard (1...prefetch).contains(batchSize) else {
            throw ValidationError("--batch-size must be 1 to --prefetch (\(prefetch)), not \(batchSize)")
        }
        guard ["quorum", "classic"].contains(queueType) else {
            throw ValidationError("--queue-type must be quorum or classic, not '\(queueType)'")
        }
        guard ["sandbox", "http"].contains(gateway) else {
            throw ValidationError("--gateway must be sandbox or http, not '\(gateway)'")
        }
        guard publishWindow > 0 else {
            throw ValidationError("--publish-window must be positive, not \(publishWindow)")
        }
        guard (1...100).contains(repetitions) else {
            throw ValidationError("--repeat must be 1 to 100, not \(repetitions)")
        }
        guard loadFraction >= 0 && loadFraction <= 1 else {
            throw ValidationError("--load-fraction must be between 0 and 1, not \(loadFraction)")
        }
        guard rateSeconds > 0 else { throw ValidationError("--rate-seconds must be positive, not \(rateSeconds)") }
        guard celeryConcurrency > 0, celeryOrders > 0 else {
            throw ValidationError("--celery-concurrency and --celery-orders must be positive")
        }
        guard settle >= 0, stallTimeout > 0 else {
            throw ValidationError("--settle must be ≥ 0 and --stall-timeout positive")
        }
        for entry in gatewayEnvironment where !entry.contains("=") || entry.hasPrefix("=") {
            throw ValidationError("--gateway-env takes NAME=VALUE, not '\(entry)'")
        }
        for entry in workerEnvironment where !entry.contains("=") || entry.hasPrefix("=") {
            throw ValidationError("--worker-env takes NAME=VALUE, not '\(entry)'")
        }
    }

    /// `NAME=VALUE` entries (validated) as a dictionary; a later entry wins.
    private static func environment(_ entries: [String]) -> [String: String] {
        var environment: [String: String] = [:]
        for entry in entries {
            let parts = entry.split(separator: "=", maxSplits: 1)
            environment[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return environment
    }

    /// The folders a run reads and writes, checked before anything starts.
    private struct Locations {
        var bin: URL
        var configuration: URL
        var references: URL
        var output: URL
        var logs: URL
    }

    func run() throws {
        let locations = try checkedLocations()
        try FileManager.default.createDirectory(at: locations.logs, withIntermediateDirectories: true)
        let adminURL = Setting.resolve(databaseURL, variable: "DATABASE_URL", default: Setting.defaultDatabaseURL)
        let postgres = try serverSettings(adminURL: adminURL)
        let here = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let mongoServer: SagaFleet.MongoServer =
            mongoURL.map { .existing(url: $0) }
            ?? .fresh(python: URL(fileURLWithPath: secantusPython, relativeTo: here).standardizedFileURL)
        let shape = SagaFleet.Shape(
            copies: copies, prefetch: prefetch, batchSize: batchSize, queueType: queueType, gateway: gateway,
            workerEnvironment: Self.environment(workerEnvironment))
        let bench = SagaBench(
            settings: SagaBench.Settings(
                benchmark: SagaBenchmark.Settings(
                    fleet: SagaFleet.Settings(
                        amqpURL: broker.resolvedURL, adminDatabaseURL: adminURL, binDirectory: locations.bin,
                        configDirectory: locations.configuration, logDirectory: locations.logs, mongo: mongoServer,
                        gatewayAPIKey: gatewayAPIKey ?? "sk_test_bench_\(UUID().uuidString.prefix(12).lowercased())",
                        gatewayEnvironment: Self.environment(gatewayEnvironment),
                        stockPerSKU: 1_000_000_000),
                    shape: shape, publishWindow: publishWindow, stallTimeout: .seconds(stallTimeout),
                    settle: .seconds(settle), keepStores: keepStores),
                orders: orders, rate: rate, repetitions: repetitions, loadFraction: loadFraction,
                rateSeconds: rateSeconds, references: references, referencesDirectory: locations.references,
                celeryConcurrency: celeryConcurrency, celeryOrders: celeryOrders),
            log: progress)

        progress(
            "bench: \(rate.map { String(format: "%.0f orders/s", $0) } ?? "flood") of \(orders) orders, shape copies "
                + "\(copies) prefetch \(prefetch) batch \(batchSize) \(queueType) gateway \(gateway)"
                + (workerEnvironment.isEmpty ? "" : " workers with " + workerEnvironment.joined(separator: " "))
                + ", \(repetitions) "
                + "repetition(s)\(references ? ", with references" : ""); output in \(locations.output.path)")
        let jsonFile = locations.output.appendingPathComponent("bench.json")
        let svgFile = locations.output.appendingPathComponent("bench.svg")
        let report = try bench.run(
            SagaBench.Context(
                command: BenchRuntimeCommand.commandLine(), postgres: postgres,
                mongo: mongoURL == nil
                    ? "every fleet and ceiling run on a fresh SecantusDB (--sync-on-commit) of its own; the Celery peer starts its own fresh one"
                    : "the fleet on the running server \(Setting.redacted(mongoURL!)) (its history grows from run to run); "
                        + "the ceiling too; the Celery peer on a fresh one of its own",
                files: ["json": jsonFile.path, "svg": svgFile.path, "logs": locations.logs.path]))
        let failures = report.failures
        let title =
            "commerce-lab bench \(report.date): copies \(copies), prefetch \(prefetch), batch \(batchSize), \(queueType), "
            + "gateway \(gateway), \(report.build) build"
            + (workerEnvironment.isEmpty ? "" : ", workers with " + workerEnvironment.joined(separator: " "))
        try Data(report.chart(title: title).utf8).write(to: svgFile)
        try OutputOptions.encodeJSON(report).write(to: jsonFile)
        if outputOptions.json { outputOptions.printJSON(report) } else { printTable(report) }
        if !failures.isEmpty {
            throw CommandFailure(
                "\(failures.count) run(s) failed; they are left out of the figures: " + failures.joined(separator: "; ")
            )
        }
    }

    /// The executables, configuration and reference scripts a run needs, and its output folder.
    /// - Throws: ``CommandFailure`` naming what is missing and how to provide it.
    private func checkedLocations() throws -> Locations {
        let here = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        let bin =
            binPath.map { URL(fileURLWithPath: $0, relativeTo: here).standardizedFileURL }
            ?? BenchHost.executableDirectory()
        for worker in FleetCatalog.workers.map(\.name) {
            guard FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent(worker).path) else {
                throw CommandFailure(
                    "no \(worker) in \(bin.path): build the fleet (`swift build -c release`) or pass --bin-path")
            }
        }
        if gateway == "http",
            !FileManager.default.isExecutableFile(atPath: bin.appendingPathComponent("payment-gateway").path)
        {
            throw CommandFailure(
                "--gateway http needs payment-gateway in \(bin.path); build it (`swift build -c release "
                    + "--product payment-gateway`) or use --gateway sandbox")
        }
        let configuration = URL(fileURLWithPath: configDirectory, relativeTo: here).standardizedFileURL
        for file in ["pricing.json", "coupons.json"]
        where !FileManager.default.fileExists(atPath: configuration.appendingPathComponent(file).path) {
            throw CommandFailure(
                "no \(file) in \(configuration.path): run from the repository root or pass --config-directory")
        }
        let referencesFolder = URL(fileURLWithPath: referencesDirectory, relativeTo: here).standardizedFileURL
        if references {
            for script in ["ceiling/run.sh", "peer-celery/run.sh"]
            where !FileManager.default.fileExists(atPath: referencesFolder.appendingPathComponent(script).path) {
                throw CommandFailure(
                    "no \(script) in \(referencesFolder.path): pass --references-directory, or --no-references")
            }
        }
        let timestamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
        let outputFolder = URL(fileURLWithPath: output ?? "bench-results/\(timestamp)", relativeTo: here)
            .standardizedFileURL
        return Locations(
            bin: bin, configuration: configuration, references: referencesFolder, output: outputFolder,
            logs: outputFolder.appendingPathComponent("logs"))
    }

    /// Checks that the broker and PostgreSQL answer, and reads the PostgreSQL settings the report
    /// records.
    /// - Throws: ``CommandFailure`` when either server cannot be reached.
    private func serverSettings(adminURL: String) throws -> [String: String] {
        let amqp: AMQPConnection
        let admin: PostgresConnection
        do {
            amqp = try AMQPConnection(configuration: broker.configuration(connectionName: "commerce-lab bench"))
            admin = try PostgresConnection(url: adminURL, applicationName: "commerce-bench")
        } catch {
            throw CommandFailure("\(CommandFailure.describe(error)); \(CommandFailure.startServersHint)")
        }
        defer {
            admin.close()
            amqp.close()
        }
        return BenchHost.postgresSettings(admin)
    }

    // MARK: - Output

    private func progress(_ line: String) {
        if outputOptions.json {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        } else {
            print(line)
            fflush(nil)
        }
    }

    private func printTable(_ report: SagaBenchReport) {
        func left(_ text: String, _ width: Int) -> String {
            text + String(repeating: " ", count: max(0, width - text.count))
        }
        func right(_ text: String, _ width: Int) -> String {
            String(repeating: " ", count: max(0, width - text.count)) + text
        }
        func number(_ value: Double?, _ format: String = "%.0f") -> String {
            value.map { String(format: format, $0) } ?? "—"
        }
        let load = { (values: [Double]) in values.map { String(format: "%.2f", $0) }.joined(separator: " ") }
        let summary = report.summary
        print("")
        print(
            "\(report.date), \(report.build) build, \(report.processors) processors (load \(load(report.loadAverageBefore)) "
                + "before, \(load(report.loadAverageAfter)) after), PostgreSQL \(report.postgres["server_version"] ?? "?") "
                + "fsync \(report.postgres["fsync"] ?? "?") synchronous_commit \(report.postgres["synchronous_commit"] ?? "?")"
        )
        print("`\(report.command)`")
        print("MongoDB: \(report.mongo)")
        print("")
        print(
            left("RUN (median of repetitions)", 34) + right("ORDERS/S", 9) + left("  (MIN–MAX)", 15)
                + right("MSGS/S", 8)
                + right("P50 MS", 9) + right("P90 MS", 9) + right("P99 MS", 9) + right("MAX MS", 9))
        let rows: [(String, SagaBenchmarkSummary.RunSummary?)] = [
            ("fleet, flood N=\(report.orders)", summary.fleetFlood),
            ("C ceiling, flood", summary.ceilingFlood),
            ("Celery peer C=\(celeryConcurrency), N=\(celeryOrders)", summary.celery),
            ("fleet at \(number(summary.fleetRate?.targetRate))/s", summary.fleetRate),
            ("C ceiling at \(number(summary.ceilingRate?.targetRate))/s", summary.ceilingRate),
        ]
        for (name, row) in rows {
            guard let row else { continue }
            print(
                left(name, 34) + right(number(row.ordersPerSecond.median), 9)
                    + left(
                        String(format: "  (%.0f–%.0f)", row.ordersPerSecond.minimum, row.ordersPerSecond.maximum), 15)
                    + right(number(row.sagaMessagesPerSecond?.median), 8) + right(number(row.p50Ms, "%.1f"), 9)
                    + right(number(row.p90Ms, "%.1f"), 9) + right(number(row.p99Ms, "%.1f"), 9)
                    + right(number(row.maxMs, "%.1f"), 9))
        }
        if let publish = summary.rawPublishMessagesPerSecond {
            print(
                "raw broker (quorum, 300 B): publish \(number(publish.median)) msgs/s, consume "
                    + "\(number(summary.rawConsumeMessagesPerSecond?.median)) msgs/s")
        }
        if !summary.ratios.isEmpty {
            print("")
            print(
                left("RATIO (median of per-repetition values)", 58) + right("VALUE", 9) + right("TARGET", 13)
                    + "   PER REPETITION")
            for ratio in summary.ratios {
                let met = ratio.met.map { $0 ? " ✓" : " ✗" } ?? ""
                print(
                    left(ratio.name, 58) + right(String(format: "%.2f", ratio.median), 9)
                        + right((ratio.target ?? "") + met, 13) + "   "
                        + ratio.perRepetition.map { String(format: "%.2f", $0) }.joined(separator: ", "))
            }
        }
        for (name, row) in [("fleet flood", summary.fleetFlood), ("fleet at fixed rate", summary.fleetRate)] {
            guard let row else { continue }
            print("")
            print(
                "\(name): mean batch "
                    + FleetCatalog.workers.map { worker in
                        "\(worker.name) \(number(row.meanBatchSize[worker.name], "%.1f"))"
                    }.joined(separator: ", "))
            print(
                "  CPU-seconds: "
                    + row.cpuSeconds.sorted { $0.value > $1.value }.map {
                        "\($0.key) \(String(format: "%.2f", $0.value))"
                    }
                    .joined(separator: ", "))
        }
        if let ceiling = summary.ceilingFlood {
            print(
                "C ceiling flood CPU-seconds: "
                    + ceiling.cpuSeconds.sorted { $0.value > $1.value }.map {
                        "\($0.key) \(String(format: "%.2f", $0.value))"
                    }
                    .joined(separator: ", "))
        }
        if let first = report.fleetRuns.first(where: { $0.mode == "flood" || $0.mode == "rate" }) {
            print("")
            print(
                "outcomes (first run): "
                    + first.outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            print("busiest threads (first run):")
            for thread in first.threads.prefix(10) {
                print(
                    "  " + right(String(format: "%.2f s", thread.cpuSeconds), 9)
                        + "  \(thread.party) (pid \(thread.pid)) \(thread.thread)")
            }
        }
        print("")
        for note in report.notes { print("note: \(note)") }
        let clean = report.fleetRuns.filter(\.auditClean).count
        print("audit: \(clean) of \(report.fleetRuns.count) fleet run(s) clean")
        if !report.failures.isEmpty {
            print("✗ \(report.failures.count) failure(s):")
            for failure in report.failures { print("  - \(failure)") }
        }
        print("files: \(report.files["json"] ?? ""), \(report.files["svg"] ?? "")")
    }
}
