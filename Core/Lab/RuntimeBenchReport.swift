import Foundation

/// Everything `commerce-lab bench-runtime` measured, as its `--json` prints it.
public struct RuntimeBenchReport: Encodable {
    public var date: String
    public var command: String
    public var build: String
    public var processors: Int
    public var loadAverageBefore: [Double]
    public var loadAverageAfter: [Double]
    public var postgresVersion: String
    public var messages: Int
    public var repeats: Int
    public var summary: BenchmarkSummary
    public var runs: [BenchmarkRun]
    /// The runs that lost or doubled an effect, one line each: a correctness failure, never a timing one.
    public var failures: [String]
}

extension RuntimeBenchmark {
    /// Runs every setup once per repetition, interleaved within each repetition so that the load
    /// of a shared machine falls on all of them alike, and returns the report. `command` is the
    /// command line the report quotes; `log` is told of each run as it ends.
    public func run(
        _ setups: [BenchmarkRun.Setup], repeats: Int, command: String, log: (String) -> Void
    ) throws -> RuntimeBenchReport {
        let loadBefore = BenchHost.loadAverage()
        let date = Date()
        let postgresVersion = (try? admin.query("show server_version").rows.first?.string("server_version")) ?? "?"
        var runs: [BenchmarkRun] = []
        let total = repeats * setups.count
        for repetition in 1...repeats {
            for setup in setups {
                let run = try run(setup, repetition: repetition)
                runs.append(run)
                log(Self.progressLine(run, number: runs.count, of: total))
            }
        }
        let failures = runs.flatMap { run in run.problems.map { "\(run.setup) repetition \(run.repetition): \($0)" } }
        return RuntimeBenchReport(
            date: ISO8601DateFormatter().string(from: date), command: command, build: BenchHost.buildConfiguration,
            processors: ProcessInfo.processInfo.activeProcessorCount, loadAverageBefore: loadBefore,
            loadAverageAfter: BenchHost.loadAverage(), postgresVersion: postgresVersion, messages: settings.messages,
            repeats: repeats, summary: BenchmarkSummary(runs: runs, setups: setups), runs: runs, failures: failures)
    }

    private static func progressLine(_ run: BenchmarkRun, number: Int, of total: Int) -> String {
        let mean = run.meanBatchSize.map { String(format: "%.1f", $0) } ?? "?"
        let scans = tables.map { table in
            "\(table) \(run.queryScans[table].map(String.init) ?? "?")"
        }
        var line =
            "  [\(number)/\(total)] \(run.setup) #\(run.repetition): "
            + String(format: "%.0f msgs/s (%.2f s)", run.messagesPerSecond, run.seconds)
            + String(format: ", published at %.0f/s", run.publishMessagesPerSecond)
            + ", mean batch \(mean), query seq scans: \(scans.joined(separator: ", "))"
            + ", CPU µs/msg " + cpuText(run.cpuSecondsPerMessage)
            + (run.meanRoundTripsPerBatch.map { String(format: ", %.1f round trips/batch", $0) } ?? "")
            + ", worker exit \(run.workerExitStatus.map(String.init) ?? "none")"
        if !run.problems.isEmpty { line += "\n      FAILED: " + run.problems.joined(separator: "\n      FAILED: ") }
        if !run.notes.isEmpty { line += "\n      note: " + run.notes.joined(separator: "\n      note: ") }
        return line
    }

    /// `worker 21.3, rabbitmq 40.2, postgres 30.1` (microseconds per message).
    public static func cpuText(_ cpu: [String: Double]) -> String {
        ["worker", "rabbitmq", "postgres"].map { group in
            "\(group) " + (cpu[group].map { String(format: "%.1f", $0 * 1e6) } ?? "?")
        }.joined(separator: ", ")
    }
}
