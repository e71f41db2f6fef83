import AMQP
import Foundation
import LocalProcess

/// The whole of `commerce-lab bench` without its command line: its repetitions of the fleet
/// (``SagaBenchmark``) and of the reference instruments (the C ceiling of the same flow, the raw
/// broker, the Celery peer, as ``ReferenceRun``s), on the same servers, and the report that sets
/// the fleet's figures beside theirs (``SagaBenchReport``). docs/benchmarks.md has the figures
/// and what bounds them.
public final class SagaBench {
    public struct Settings {
        /// Each fleet run's settings: the servers, the shape, the publish window (which the
        /// ceiling runs with too).
        public var benchmark: SagaBenchmark.Settings
        /// Orders of a flood run (the ceiling runs the same number).
        public var orders: Int
        /// Orders per second instead of a flood (no flood, no ratios to the floods).
        public var rate: Double?
        public var repetitions: Int
        /// After each flood, the fleet and the ceiling again at this fraction of their own flood
        /// rate; 0 skips it.
        public var loadFraction: Double
        /// Seconds of orders in a run at a fixed rate (N = rate × seconds).
        public var rateSeconds: Double
        /// Whether to run the reference instruments.
        public var references: Bool
        /// The folder with `ceiling/run.sh` and `peer-celery/run.sh`.
        public var referencesDirectory: URL
        /// The Celery peer's prefork concurrency, and its orders.
        public var celeryConcurrency: Int
        public var celeryOrders: Int

        public init(
            benchmark: SagaBenchmark.Settings, orders: Int, rate: Double?, repetitions: Int, loadFraction: Double,
            rateSeconds: Double, references: Bool, referencesDirectory: URL, celeryConcurrency: Int,
            celeryOrders: Int
        ) {
            self.benchmark = benchmark
            self.orders = orders
            self.rate = rate
            self.repetitions = repetitions
            self.loadFraction = loadFraction
            self.rateSeconds = rateSeconds
            self.references = references
            self.referencesDirectory = referencesDirectory
            self.celeryConcurrency = celeryConcurrency
            self.celeryOrders = celeryOrders
        }
    }

    /// What the report records besides the runs, from the caller: how it was invoked and on what.
    public struct Context {
        /// The command line, as the report quotes it.
        public var command: String
        /// PostgreSQL's settings that bear on the figures (``BenchHost/postgresSettings(_:)``).
        public var postgres: [String: String]
        /// The state every measured run's MongoDB started from, in words.
        public var mongo: String
        /// The files the caller writes the report to, by kind (`json`, `svg`, `logs`).
        public var files: [String: String]

        public init(command: String, postgres: [String: String], mongo: String, files: [String: String]) {
            self.command = command
            self.postgres = postgres
            self.mongo = mongo
            self.files = files
        }
    }

    /// What the repetitions produced: every fleet and reference run, and the runs that could not
    /// be carried out at all.
    public struct Runs {
        public var fleet: [FleetRun] = []
        public var references: [ReferenceRun] = []
        public var aborted: [String] = []

        /// Every run that failed or could not be carried out, one line each.
        public var failures: [String] {
            aborted
                + fleet.flatMap { run in
                    run.problems.map { "fleet \(run.mode) repetition \(run.repetition): \($0)" }
                }
                + references.filter { !$0.ok }.map {
                    "reference \($0.name) repetition \($0.repetition) failed: \($0.error ?? "?") (\($0.log))"
                }
        }
    }

    let settings: Settings
    private let benchmark: SagaBenchmark
    private let log: (String) -> Void

    /// - Parameter log: told of each run as it ends, one line each (progress, not the report).
    public init(settings: Settings, log: @escaping (String) -> Void) {
        self.settings = settings
        self.log = log
        benchmark = SagaBenchmark(settings: settings.benchmark, log: log)
    }

    private var shape: SagaFleet.Shape { settings.benchmark.shape }
    private var logs: URL { settings.benchmark.fleet.logDirectory }

    /// Runs every repetition and returns the report; a run that failed is in its
    /// ``SagaBenchReport/failures``, not in an error.
    /// - Throws: when no free port is found for the Celery peer.
    public func run(_ context: Context) throws -> SagaBenchReport {
        let loadBefore = BenchHost.loadAverage()
        let date = Date()
        var runs = Runs()
        for repetition in 1...settings.repetitions {
            try runRepetition(repetition, into: &runs)
        }
        return SagaBenchReport(
            date: ISO8601DateFormatter().string(from: date), command: context.command,
            build: BenchHost.buildConfiguration, processors: ProcessInfo.processInfo.activeProcessorCount,
            loadAverageBefore: loadBefore, loadAverageAfter: BenchHost.loadAverage(), postgres: context.postgres,
            shape: shape, orders: settings.orders, rate: settings.rate, loadFraction: settings.loadFraction,
            publishWindow: settings.benchmark.publishWindow, repetitions: settings.repetitions, mongo: context.mongo,
            notes: notes(), summary: SagaBenchmarkSummary(fleet: runs.fleet, references: runs.references),
            fleetRuns: runs.fleet, references: runs.references, failures: runs.failures, files: context.files)
    }

    /// One repetition: the fleet run (flood or at the rate), the references if asked for, then,
    /// after a flood, the fleet and the ceiling again at the load fraction of their peak. A run
    /// that cannot be carried out at all (a server restarted under it) is recorded in
    /// ``Runs/aborted`` and the invocation goes on: the other runs' figures still count.
    /// - Throws: when no free port is found for the Celery peer.
    private func runRepetition(_ repetition: Int, into runs: inout Runs) throws {
        log("repetition \(repetition) of \(settings.repetitions)")
        let rate = settings.rate
        let main: FleetRun
        do {
            main = try benchmark.run(orders: settings.orders, rate: rate, repetition: repetition)
        } catch {
            runs.aborted.append("fleet \(rate == nil ? "flood" : "rate") repetition \(repetition): \(error)")
            log("  fleet run FAILED: \(error)")
            return
        }
        runs.fleet.append(main)
        log("  fleet \(main.mode): " + Self.runLine(main))
        if settings.references { runs.references += try runReferences(repetition) }
        guard rate == nil, settings.loadFraction > 0 else { return }
        if main.problems.isEmpty {
            let paced = settings.loadFraction * main.ordersPerSecond
            let count = max(1, Int(paced * settings.rateSeconds))
            do {
                let run = try benchmark.run(orders: count, rate: paced, repetition: repetition)
                runs.fleet.append(run)
                log(String(format: "  fleet at %.0f orders/s: ", paced) + Self.runLine(run))
            } catch {
                runs.aborted.append("fleet rate repetition \(repetition): \(error)")
                log("  fleet run FAILED: \(error)")
            }
        }
        if settings.references,
            let ceiling = runs.references.last(where: { $0.name == "ceiling" && $0.repetition == repetition }),
            let peak = ceiling.number("orders_per_s"), ceiling.ok
        {
            let paced = settings.loadFraction * peak
            let run = runCeiling(
                rate: paced, orders: max(1, Int(paced * settings.rateSeconds)), repetition: repetition)
            runs.references.append(run)
            log(String(format: "  C ceiling at %.0f orders/s: ", paced) + Self.referenceLine(run))
        }
    }

    /// The reference runs of one repetition: the C ceiling at the fleet's rate, and after a flood
    /// the raw broker and the Celery peer.
    private func runReferences(_ repetition: Int) throws -> [ReferenceRun] {
        var done: [ReferenceRun] = []
        let ceiling = runCeiling(rate: settings.rate, orders: settings.orders, repetition: repetition)
        done.append(ceiling)
        log("  C ceiling \(ceiling.name): " + Self.referenceLine(ceiling))
        guard settings.rate == nil else { return done }
        let raw = ReferenceRun.run(
            name: "raw", repetition: repetition, directory: settings.referencesDirectory, script: "ceiling/run.sh",
            arguments: ["raw"], environment: referenceEnvironment(),
            log: logs.appendingPathComponent("raw-\(repetition).log"), timeout: .seconds(600))
        done.append(raw)
        log("  raw broker: " + Self.referenceLine(raw))
        let celery = ReferenceRun.run(
            name: "celery", repetition: repetition, directory: settings.referencesDirectory,
            script: "peer-celery/run.sh", arguments: [],
            environment: referenceEnvironment().merging([
                "C": "\(settings.celeryConcurrency)", "N": "\(settings.celeryOrders)",
                "PEER_MONGO_PORT": "\(try LocalPorts.free())",
            ]) { $1 }, log: logs.appendingPathComponent("celery-\(repetition).log"),
            timeout: .seconds(1800))
        done.append(celery)
        log("  Celery peer: " + Self.referenceLine(celery))
        return done
    }

    /// What a reader of the report must know to compare the fleet with the references.
    private func notes() -> [String] {
        var notes: [String] = []
        if shape.queueType != "quorum" {
            notes.append("the fleet ran \(shape.queueType) queues; the references use quorum queues")
        }
        if shape.gateway == "http" {
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
        guard let configuration = try? AMQPConfiguration(urls: settings.benchmark.fleet.amqpURL),
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

    /// The C ceiling with the fleet's shape, on a fresh SecantusDB (or the running server the
    /// fleet uses).
    private func runCeiling(rate: Double?, orders: Int, repetition: Int) -> ReferenceRun {
        var environment = referenceEnvironment()
        var secantus: FreshSecantus?
        let name = rate == nil ? "ceiling" : "ceiling-rate"
        switch settings.benchmark.fleet.mongo {
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
            "-n", "\(orders)", "-b", "\(shape.batchSize)", "-p", "\(shape.prefetch)", "-w",
            "\(settings.benchmark.publishWindow)", "-c", "\(shape.copies)",
        ]
        if let rate { arguments += ["-r", String(format: "%.1f", rate)] }
        return ReferenceRun.run(
            name: name, repetition: repetition, directory: settings.referencesDirectory, script: "ceiling/run.sh",
            arguments: arguments, environment: environment,
            log: logs.appendingPathComponent("\(name)-\(repetition).log"),
            timeout: .seconds(1200))
    }

    // MARK: - Progress

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
}

/// Everything `commerce-lab bench` measured, as `--json` prints it and bench.json holds it.
public struct SagaBenchReport: Encodable {
    public var date: String
    public var command: String
    public var build: String
    public var processors: Int
    public var loadAverageBefore: [Double]
    public var loadAverageAfter: [Double]
    public var postgres: [String: String]
    public var shape: SagaFleet.Shape
    public var orders: Int
    public var rate: Double?
    public var loadFraction: Double
    public var publishWindow: Int
    public var repetitions: Int
    /// The state every measured run's MongoDB started from.
    public var mongo: String
    /// What differs between the fleet and the references despite the like-for-like settings.
    public var notes: [String]
    public var summary: SagaBenchmarkSummary
    public var fleetRuns: [FleetRun]
    public var references: [ReferenceRun]
    public var failures: [String]
    public var files: [String: String]

    /// The latency chart of every run (bench.svg), under `title`.
    public func chart(title: String) -> String {
        LatencyChart.svg(title: title, fleet: fleetRuns, references: references)
    }
}
