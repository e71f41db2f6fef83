import AMQP
import ArgumentParser
import CommandLineSupport
import Foundation
import Lab
import LocalProcess
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

    /// Everything the command measured, as `--json` prints it and bench.json holds it.
    struct Report: Encodable {
        var date: String
        var command: String
        var build: String
        var processors: Int
        var loadAverageBefore: [Double]
        var loadAverageAfter: [Double]
        var postgres: [String: String]
        var shape: SagaFleet.Shape
        var orders: Int
        var rate: Double?
        var loadFraction: Double
        var publishWindow: Int
        var repetitions: Int
        /// The state every measured run's MongoDB started from.
        var mongo: String
        /// What differs between the fleet and the references despite the like-for-like settings.
        var notes: [String]
        var summary: SagaBenchmarkSummary
        var fleetRuns: [FleetRun]
        var references: [ReferenceRun]
        var failures: [String]
        var files: [String: String]
    }

    /// The folders a run reads and writes, checked before anything starts.
    private struct Locations {
        var bin: URL
        var configuration: URL
        var references: URL
        var output: URL
        var logs: URL
    }

    /// What the repetitions produced: every fleet and reference run, and the runs that could not
    /// be carried out at all.
    private struct Runs {
        var fleet: [FleetRun] = []
        var references: [ReferenceRun] = []
        var aborted: [String] = []
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
        let benchmark = SagaBenchmark(
            settings: SagaBenchmark.Settings(
                fleet: SagaFleet.Settings(
                    amqpURL: broker.resolvedURL, adminDatabaseURL: adminURL, binDirectory: locations.bin,
                    configDirectory: locations.configuration, logDirectory: locations.logs, mongo: mongoServer,
                    gatewayAPIKey: gatewayAPIKey ?? "sk_test_bench_\(UUID().uuidString.prefix(12).lowercased())",
                    gatewayEnvironment: Self.environment(gatewayEnvironment),
                    stockPerSKU: 1_000_000_000),
                shape: shape, publishWindow: publishWindow, stallTimeout: .seconds(stallTimeout),
                settle: .seconds(settle), keepStores: keepStores),
            log: progress)

        let loadBefore = BenchHost.loadAverage()
        let date = Date()
        progress(
            "bench: \(rate.map { String(format: "%.0f orders/s", $0) } ?? "flood") of \(orders) orders, shape copies "
                + "\(copies) prefetch \(prefetch) batch \(batchSize) \(queueType) gateway \(gateway)"
                + (workerEnvironment.isEmpty ? "" : " workers with " + workerEnvironment.joined(separator: " "))
                + ", \(repetitions) "
                + "repetition(s)\(references ? ", with references" : ""); output in \(locations.output.path)")
        var runs = Runs()
        for repetition in 1...repetitions {
            try runRepetition(repetition, of: benchmark, mongo: mongoServer, locations: locations, into: &runs)
        }

        let failures = Self.failures(of: runs)
        let jsonFile = locations.output.appendingPathComponent("bench.json")
        let svgFile = locations.output.appendingPathComponent("bench.svg")
        let report = Report(
            date: ISO8601DateFormatter().string(from: date), command: BenchRuntimeCommand.commandLine(),
            build: BenchHost.buildConfiguration, processors: ProcessInfo.processInfo.activeProcessorCount,
            loadAverageBefore: loadBefore, loadAverageAfter: BenchHost.loadAverage(), postgres: postgres,
            shape: shape, orders: orders, rate: rate, loadFraction: loadFraction, publishWindow: publishWindow,
            repetitions: repetitions,
            mongo: mongoURL == nil
                ? "every fleet and ceiling run on a fresh SecantusDB (--sync-on-commit) of its own; the Celery peer starts its own fresh one"
                : "the fleet on the running server \(Setting.redacted(mongoURL!)) (its history grows from run to run); "
                    + "the ceiling too; the Celery peer on a fresh one of its own",
            notes: notes(), summary: SagaBenchmarkSummary(fleet: runs.fleet, references: runs.references),
            fleetRuns: runs.fleet, references: runs.references, failures: failures,
            files: ["json": jsonFile.path, "svg": svgFile.path, "logs": locations.logs.path])
        let title =
            "commerce-lab bench \(report.date): copies \(copies), prefetch \(prefetch), batch \(batchSize), \(queueType), "
            + "gateway \(gateway), \(report.build) build"
            + (workerEnvironment.isEmpty ? "" : ", workers with " + workerEnvironment.joined(separator: " "))
        try Data(LatencyChart.svg(title: title, fleet: runs.fleet, references: runs.references).utf8).write(
            to: svgFile)
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

    /// One repetition: the fleet run (flood or at `--rate`), the references with `--references`,
    /// then, after a flood, the fleet and the ceiling again at `--load-fraction` of their peak.
    /// A run that cannot be carried out at all (a server restarted under it) is recorded in
    /// ``Runs/aborted`` and the invocation goes on: the other runs' figures still count.
    /// - Throws: when no free port is found for the Celery peer.
    private func runRepetition(
        _ repetition: Int, of benchmark: SagaBenchmark, mongo mongoServer: SagaFleet.MongoServer,
        locations: Locations, into runs: inout Runs
    ) throws {
        progress("repetition \(repetition) of \(repetitions)")
        let main: FleetRun
        do {
            main = try benchmark.run(orders: orders, rate: rate, repetition: repetition)
        } catch {
            runs.aborted.append("fleet \(rate == nil ? "flood" : "rate") repetition \(repetition): \(error)")
            progress("  fleet run FAILED: \(error)")
            return
        }
        runs.fleet.append(main)
        progress("  fleet \(main.mode): " + Self.runLine(main))
        if references { runs.references += try runReferences(repetition, mongo: mongoServer, locations: locations) }
        guard rate == nil, loadFraction > 0 else { return }
        if main.problems.isEmpty {
            let paced = loadFraction * main.ordersPerSecond
            let count = max(1, Int(paced * rateSeconds))
            do {
                let run = try benchmark.run(orders: count, rate: paced, repetition: repetition)
                runs.fleet.append(run)
                progress(String(format: "  fleet at %.0f orders/s: ", paced) + Self.runLine(run))
            } catch {
                runs.aborted.append("fleet rate repetition \(repetition): \(error)")
                progress("  fleet run FAILED: \(error)")
            }
        }
        if references,
            let ceiling = runs.references.last(where: { $0.name == "ceiling" && $0.repetition == repetition }),
            let peak = ceiling.number("orders_per_s"), ceiling.ok
        {
            let paced = loadFraction * peak
            let run = runCeiling(
                rate: paced, orders: max(1, Int(paced * rateSeconds)), repetition: repetition,
                folder: locations.references, logs: locations.logs, python: mongoServer)
            runs.references.append(run)
            progress(String(format: "  C ceiling at %.0f orders/s: ", paced) + Self.referenceLine(run))
        }
    }

    /// The reference runs of one repetition: the C ceiling at the fleet's rate, and after a flood
    /// the raw broker and the Celery peer.
    private func runReferences(_ repetition: Int, mongo mongoServer: SagaFleet.MongoServer, locations: Locations)
        throws -> [ReferenceRun]
    {
        var done: [ReferenceRun] = []
        let ceiling = runCeiling(
            rate: rate, orders: orders, repetition: repetition, folder: locations.references, logs: locations.logs,
            python: mongoServer)
        done.append(ceiling)
        progress("  C ceiling \(ceiling.name): " + Self.referenceLine(ceiling))
        guard rate == nil else { return done }
        let raw = ReferenceRun.run(
            name: "raw", repetition: repetition, directory: locations.references, script: "ceiling/run.sh",
            arguments: ["raw"], environment: referenceEnvironment(),
            log: locations.logs.appendingPathComponent("raw-\(repetition).log"), timeout: .seconds(600))
        done.append(raw)
        progress("  raw broker: " + Self.referenceLine(raw))
        let celery = ReferenceRun.run(
            name: "celery", repetition: repetition, directory: locations.references,
            script: "peer-celery/run.sh", arguments: [],
            environment: referenceEnvironment().merging([
                "C": "\(celeryConcurrency)", "N": "\(celeryOrders)", "PEER_MONGO_PORT": "\(try LocalPorts.free())",
            ]) { $1 }, log: locations.logs.appendingPathComponent("celery-\(repetition).log"),
            timeout: .seconds(1800))
        done.append(celery)
        progress("  Celery peer: " + Self.referenceLine(celery))
        return done
    }

    /// Every run that failed or could not be carried out, one line each.
    private static func failures(of runs: Runs) -> [String] {
        runs.aborted
            + runs.fleet.flatMap { run in
                run.problems.map { "fleet \(run.mode) repetition \(run.repetition): \($0)" }
            }
            + runs.references.filter { !$0.ok }.map {
                "reference \($0.name) repetition \($0.repetition) failed: \($0.error ?? "?") (\($0.log))"
            }
    }

    /// What a reader of the report must know to compare the fleet with the references.
    private func notes() -> [String] {
        var notes: [String] = []
        if queueType != "quorum" { notes.append("the fleet ran \(queueType) queues; the references use quorum queues") }
        if gateway == "http" {
            notes.append(
                "the fleet charged through a payment-gateway process over HTTP; the references have no card processor")
        }
        notes.append(
            "per order the fleet also validates and prices the order, records stock.reserved in the order, and sells "
                + "the reserved stock on order.confirmed (7 deliveries per order); the ceiling's flow has 5 and no sale"
        )
        return notes
    }

    // MARK: - References

    /// The servers the references use, from our broker URL (their defaults are the same local servers).
    private func referenceEnvironment() -> [String: String] {
        guard let configuration = try? AMQPConfiguration(urls: broker.resolvedURL),
            let endpoint = configuration.endpoints.first
        else { return [:] }
        let vhost = configuration.virtualHost == "/" ? "/" : configuration.virtualHost
        return [
            "CEIL_AMQP_HOST": endpoint.host, "CEIL_AMQP_PORT": "\(endpoint.port)",
            "CEIL_AMQP_USER": configuration.username,
            "CEIL_AMQP_PASSWORD": configuration.password,
            "BROKER_URL":
                "amqp://\(configuration.username):\(configuration.password)@\(endpoint.host):\(endpoint.port)/\(vhost == "/" ? "/" : vhost)",
        ]
    }

    /// The C ceiling with the fleet's shape, on a fresh SecantusDB (or the running server with --mongo-url).
    private func runCeiling(
        rate: Double?, orders: Int, repetition: Int, folder: URL, logs: URL, python: SagaFleet.MongoServer
    ) -> ReferenceRun {
        var environment = referenceEnvironment()
        var secantus: FreshSecantus?
        let name = rate == nil ? "ceiling" : "ceiling-rate"
        switch python {
        case .fresh(let interpreter):
            do {
                let server = try FreshSecantus(python: interpreter, logDirectory: logs)
                secantus = server
                environment["CEIL_MONGO_URI"] = server.url
            } catch {
                return ReferenceRun(
                    name: name, repetition: repetition, command: "ceiling/run.sh", result: nil, ok: false,
                    error: "\(error)", wallSeconds: 0, log: "")
            }
        case .existing(let url):
            environment["CEIL_MONGO_URI"] = url
        }
        defer { secantus?.stop() }
        var arguments = [
            "-n", "\(orders)", "-b", "\(batchSize)", "-p", "\(prefetch)", "-w", "\(publishWindow)", "-c", "\(copies)",
        ]
        if let rate { arguments += ["-r", String(format: "%.1f", rate)] }
        return ReferenceRun.run(
            name: name, repetition: repetition, directory: folder, script: "ceiling/run.sh", arguments: arguments,
            environment: environment, log: logs.appendingPathComponent("\(name)-\(repetition).log"),
            timeout: .seconds(1200))
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

    private static func runLine(_ run: FleetRun) -> String {
        let latency =
            run.latency.map {
                String(format: "p50 %.1f ms, p99 %.1f ms, max %.1f ms", $0.p50Ms, $0.p99Ms, $0.maxMs)
            } ?? "no latency"
        var line =
            String(
                format: "%.0f orders/s, %.0f saga msgs/s over %.2f s, ", run.ordersPerSecond, run.sagaMessagesPerSecond,
                run.seconds)
            + latency + ", audit " + (run.auditClean ? "clean" : "FAILED")
        if !run.problems.isEmpty { line += "\n      FAILED: " + run.problems.joined(separator: "\n      FAILED: ") }
        return line
    }

    private static func referenceLine(_ run: ReferenceRun) -> String {
        guard run.ok else { return "FAILED: \(run.error ?? "?") (log \(run.log))" }
        if run.name == "raw" {
            return String(
                format: "publish %.0f msgs/s, consume %.0f msgs/s", run.number("publish_msgs_per_s") ?? 0,
                run.number("consume_msgs_per_s") ?? 0)
        }
        return String(
            format: "%.0f orders/s, p50 %.1f ms, p99 %.1f ms, max %.1f ms", run.number("orders_per_s") ?? 0,
            run.number("p50_ms") ?? 0, run.number("p99_ms") ?? 0, run.number("max_ms") ?? 0)
    }

    private func printTable(_ report: Report) {
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
