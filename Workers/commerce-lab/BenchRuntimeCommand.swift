import AMQP
import ArgumentParser
import CommandLineSupport
import Foundation
import Lab
import Postgres

/// `commerce-lab bench-runtime`: throughput and batch sizes of the worker runtime under a burst, for
/// each queue type and batch maximum, measured side by side in one invocation.
///
/// Each run drains a burst that is already waiting in a fresh queue with one probe worker (one
/// row in `probe_effects` per message). Setups are interleaved within each repetition so that the
/// load of a shared machine falls on all of them alike; ratios are taken within a repetition and
/// then median'd. A run that loses or duplicates an effect fails the command: that is a
/// correctness check, never a timing threshold.
struct BenchRuntimeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-runtime",
        abstract:
            "Measure the worker runtime under a burst: messages/s and batch sizes per queue type and batch maximum.",
        discussion: """
            For each repetition and each setup (in the order given): creates a fresh exchange, queue \
            (declared exactly as the worker declares it) and database (bench_<random>, created from the \
            admin database), publishes the burst with publisher confirms, starts the probe worker \
            (QUEUE_TYPE, CONSUMER_BATCH_SIZE from the setup) and times it from /health answering 200 to \
            the last effect row. Then reads the batch-size histogram from /metrics and seq_scan from \
            pg_stat_user_tables, stops the worker with SIGTERM (it must exit 0), checks that every \
            message took effect exactly once, and deletes the queues, exchange and database.
            """)

    static let defaultSetups = BenchmarkRun.Setup.all.map(\.description).joined(separator: ",")

    @OptionGroup var broker: BrokerOptions

    @Option(
        name: .customLong("database-url"),
        help: ArgumentHelp(
            "PostgreSQL URL or conninfo of a database to create the benchmark databases from "
                + "(env DATABASE_URL; default the commerce_test database).",
            valueName: "url"))
    var databaseURL: String?

    @Option(help: ArgumentHelp("Messages in each burst.", valueName: "n"))
    var messages = 10_000

    @Option(help: ArgumentHelp("Repetitions of every setup.", valueName: "r"))
    var repeats = 3

    @Option(
        help: ArgumentHelp(
            "Setups to compare, comma-separated, each <quorum|classic>/<batch maximum>.", valueName: "list"))
    var configs = Self.defaultSetups

    @Option(
        name: .customLong("probe-worker"),
        help: ArgumentHelp(
            "A probe-worker executable, optionally labelled (label=path); repeat it to compare builds in one "
                + "invocation, every setup run with each, interleaved (default: the one beside this commerce-lab).",
            valueName: "[label=]path"))
    var probeWorkers: [String] = []

    @Flag(help: "Each message emits a probe.done event through the outbox (checked to arrive exactly once).")
    var events = false

    @OptionGroup var output: OutputOptions

    /// Every configured setup, once per probe-worker build.
    var setups: [BenchmarkRun.Setup] {
        let configured = configs.split(separator: ",").compactMap {
            BenchmarkRun.Setup(argument: $0.trimmingCharacters(in: .whitespaces))
        }
        return configured.flatMap { setup in
            workerLabels.map { label in
                var labelled = setup
                labelled.worker = label
                return labelled
            }
        }
    }

    /// The labels of `--probe-worker`, in order; `[""]` for a single unlabelled one.
    private var workerLabels: [String] {
        probeWorkers.count <= 1 ? [""] : probeWorkers.map { Self.splitWorker($0).label }
    }

    private static func splitWorker(_ argument: String) -> (label: String, path: String) {
        guard let equals = argument.firstIndex(of: "=") else { return ("", argument) }
        return (String(argument[..<equals]), String(argument[argument.index(after: equals)...]))
    }

    func validate() throws {
        guard messages > 0 else { throw ValidationError("--messages must be positive, not \(messages)") }
        guard repeats > 0 else { throw ValidationError("--repeats must be positive, not \(repeats)") }
        for item in configs.split(separator: ",") {
            guard BenchmarkRun.Setup(argument: item.trimmingCharacters(in: .whitespaces)) != nil else {
                throw ValidationError("--configs: '\(item)' is not <quorum|classic>/<batch maximum>, e.g. quorum/64")
            }
        }
        guard !setups.isEmpty, Set(setups).count == setups.count else {
            throw ValidationError("--configs needs one or more distinct setups, got '\(configs)'")
        }
        if probeWorkers.count > 1 {
            let labels = workerLabels
            guard labels.allSatisfy({ !$0.isEmpty && !$0.contains(":") }), Set(labels).count == labels.count else {
                throw ValidationError("--probe-worker: give each of several builds a distinct label, e.g. old=PATH")
            }
        }
    }

    func run() throws {
        var workers: [String: URL] = [:]
        for argument in probeWorkers.isEmpty ? [""] : probeWorkers {
            let (label, path) = Self.splitWorker(argument)
            let worker = path.isEmpty ? probeWorkerURL() : URL(fileURLWithPath: path)
            guard FileManager.default.isExecutableFile(atPath: worker.path) else {
                throw CommandFailure(
                    "no probe-worker at \(worker.path): build it beside commerce "
                        + "(`swift build -c release --product probe-worker`) or pass --probe-worker")
            }
            workers[probeWorkers.count > 1 ? label : ""] = worker
        }
        let adminURL = Setting.resolve(databaseURL, variable: "DATABASE_URL", default: Setting.defaultDatabaseURL)
        let amqp: AMQPConnection
        let admin: PostgresConnection
        do {
            amqp = try AMQPConnection(configuration: broker.configuration(connectionName: "commerce-lab bench-runtime"))
            admin = try PostgresConnection(url: adminURL, applicationName: "commerce-bench")
        } catch {
            throw CommandFailure(CommandFailure.describe(error))
        }
        defer {
            admin.close()
            amqp.close()
        }
        let workDirectory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "commerce-bench-\(UUID().uuidString.prefix(8).lowercased())")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)

        let benchmark = try RuntimeBenchmark(
            settings: RuntimeBenchmark.Settings(
                amqpURL: broker.resolvedURL, adminDatabaseURL: adminURL, probeWorkers: workers, messages: messages,
                events: events, workDirectory: workDirectory),
            amqp: amqp, admin: admin)
        progress(
            "bench-runtime: \(messages) messages per run, \(repeats) repetition(s) of \(setups.map(\.description).joined(separator: ", ")); worker logs in \(workDirectory.path)"
        )
        let report = try benchmark.run(setups, repeats: repeats, command: Self.commandLine(), log: progress)
        let failures = report.failures
        let total = repeats * setups.count
        if output.json {
            output.printJSON(report)
        } else {
            printTable(report)
        }
        if !failures.isEmpty {
            throw CommandFailure(
                "\(failures.count) correctness failure(s) in \(total) runs: " + failures.joined(separator: "; "))
        }
        try? FileManager.default.removeItem(at: workDirectory)
    }

    // MARK: - Output

    private func progress(_ line: String) {
        if output.json {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        } else {
            print(line)
            fflush(nil)  // progress should show as it happens, also through a pipe
        }
    }

    private func printTable(_ report: RuntimeBenchReport) {
        func left(_ text: String, _ width: Int) -> String {
            text + String(repeating: " ", count: max(0, width - text.count))
        }
        func right(_ text: String, _ width: Int) -> String {
            String(repeating: " ", count: max(0, width - text.count)) + text
        }
        let summary = report.summary
        let load = { (values: [Double]) in values.map { String(format: "%.2f", $0) }.joined(separator: " ") }
        print("")
        print(
            "\(report.date), \(report.build) build, \(report.processors) processors (load \(load(report.loadAverageBefore)) before, \(load(report.loadAverageAfter)) after), PostgreSQL \(report.postgresVersion)"
        )
        print("\(report.messages) messages per burst, \(report.repeats) repetition(s); `\(report.command)`")
        print("")
        // Only the batch-size ranges some run reached, beyond the first six.
        let ranges = BenchmarkRun.BatchSizeRange.bounds.indices.filter { index in
            index < 6 || summary.setups.contains { $0.batchSizes[index].messages > 0 }
        }
        var header =
            left("SETUP", 12) + right("RUNS", 5) + right("MSGS/S", 9) + "  " + left("(MIN–MAX)", 14)
            + right("MEAN BATCH", 11) + right("PUBLISH/S", 10) + "   share of messages in batches of"
        print(header)
        header = String(repeating: " ", count: 66)
        for index in ranges {
            let (lower, upper) = BenchmarkRun.BatchSizeRange.bounds[index]
            header += right(BenchmarkRun.BatchSizeRange.label(lower, upper), 7)
        }
        print(header)
        for setup in summary.setups {
            let rates = String(format: "(%.0f–%.0f)", setup.minimumMessagesPerSecond, setup.maximumMessagesPerSecond)
            var line =
                left(setup.setup.description, 12) + right("\(setup.runs)", 5)
                + right(String(format: "%.0f", setup.medianMessagesPerSecond), 9) + "  " + left(rates, 14)
                + right(setup.meanBatchSize.map { String(format: "%.1f", $0) } ?? "?", 11)
                + right(String(format: "%.0f", setup.medianPublishMessagesPerSecond), 10) + "   "
            let messages = setup.batchSizes.map(\.messages).reduce(0, +)
            for index in ranges {
                let share = messages > 0 ? 100 * Double(setup.batchSizes[index].messages) / Double(messages) : 0
                line += right(String(format: "%.1f%%", share), 7)
            }
            print(line)
        }
        print("")
        print("CPU per message (µs, median over repetitions) and PostgreSQL round trips per batch (mean):")
        for setup in summary.setups {
            let trips = setup.meanRoundTripsPerBatch.map { String(format: "%.1f", $0) } ?? "?"
            print(
                "  " + left(setup.setup.description, 16) + RuntimeBenchmark.cpuText(setup.medianCPUSecondsPerMessage)
                    + ", round trips/batch \(trips)")
        }
        if !summary.ratios.isEmpty {
            print("")
            print("Throughput ratios (within each repetition, then the median):")
            for ratio in summary.ratios {
                let each = ratio.perRepetition.map { String(format: "%.2f", $0) }.joined(separator: ", ")
                print(
                    "  " + left(ratio.measure, 9) + left(ratio.name, 40)
                        + right(String(format: "%.2f×", ratio.median), 8)
                        + "   (\(each))")
            }
        }
        print("")
        print("Sequential scans by queries in one run (highest over repetitions; index builds at migration left out):")
        for setup in summary.setups {
            let scans = RuntimeBenchmark.tables.map { "\($0) \(setup.maximumQueryScans[$0].map(String.init) ?? "?")" }
            print("  " + left(setup.setup.description, 12) + scans.joined(separator: ", "))
        }
        if !report.failures.isEmpty {
            print("")
            print(
                "✗ \(report.failures.count) run(s) failed the exactly-once check; they are left out of the figures above."
            )
        }
    }

    // MARK: - Environment

    /// `probe-worker` in the directory of this executable.
    private func probeWorkerURL() -> URL {
        BenchHost.executableDirectory().appendingPathComponent("probe-worker")
    }

    /// The command line as a report records it.
    static func commandLine() -> String {
        (["commerce-lab"] + CommandLine.arguments.dropFirst()).joined(separator: " ")
    }
}
