import AMQP
import ArgumentParser
import CommandLineSupport
import CommerceSupport
import FleetOperations
import Foundation
import WorkerRuntime

/// `commerce status`: the fleet at a glance. Per worker queue: ready messages, consumers, the
/// retry queues' and the dead-letter queue's depth, and rates from two samples `--interval` apart;
/// per worker copy: its `/health` and the totals of its `/metrics`.
///
/// Queue counts come from a passive `queue.declare` (which creates nothing). Fails only when the
/// broker cannot be reached; a worker endpoint that does not answer is shown as such.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the worker queues (depths, consumers, rates) and each worker copy's health and counters.",
        discussion: """
            Queues: \(QueuesCommand.standardQueues.joined(separator: ", ")) (or the --queue names), each with \
            its retry queues (<queue>.retry.<delay>, from --retry-delays-ms) and <queue>.dlq. They are \
            sampled twice, --interval apart: the change in ready messages per second, and messages \
            handled per second from the workers' commerce_messages_handled_total. Workers: every \
            --worker URL, by default the local fleet's \
            \(defaultPorts.map { "127.0.0.1:\($0)" }.joined(separator: ", ")) (those that do not \
            answer are left out); /health and /metrics are read.
            """)

    /// The local fleet's HTTP ports (config/*.json and scripts/run.sh, the second stock-worker on 9195).
    static let defaultPorts = [9191, 9192, 9195, 9193, 9194]

    @OptionGroup var broker: BrokerOptions

    @Option(
        name: .customLong("queue"),
        help: ArgumentHelp("A worker queue to show instead of the fleet's (repeatable).", valueName: "name"))
    var queues: [String] = []

    @Option(
        name: .customLong("worker"),
        help: ArgumentHelp(
            "A worker copy's endpoint, http://host:port (repeatable; default the local fleet's ports).",
            valueName: "url"))
    var workerURLs: [String] = []

    @Option(help: ArgumentHelp("Seconds between the two samples (default 2).", valueName: "seconds"))
    var interval: Double = 2

    @Option(
        help: ArgumentHelp(
            "Retry delays in milliseconds, comma-separated (the workers' QUEUE_RETRY_DELAYS_MS).", valueName: "ms,…"))
    var retryDelaysMs = "1000,5000,30000"

    @OptionGroup var output: OutputOptions

    func validate() throws {
        for name in queues {
            guard !name.isEmpty, name.utf8.count <= 240 else {
                throw ValidationError("--queue needs a name of 1 to 240 bytes, got '\(name)'")
            }
        }
        for url in workerURLs where WorkerEndpoint(url: url) == nil {
            throw ValidationError("--worker needs http://host:port, got '\(url)'")
        }
        guard interval.isFinite, interval > 0, interval <= 300 else {
            throw ValidationError("--interval must be more than 0 and at most 300 seconds, got \(interval)")
        }
        guard retryDelays != nil else {
            throw ValidationError("--retry-delays-ms needs one or more positive integers, got '\(retryDelaysMs)'")
        }
    }

    private var retryDelays: [Duration]? {
        let parts = retryDelaysMs.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !values.isEmpty, values.count == parts.count, values.allSatisfy({ $0 > 0 }) else { return nil }
        return values.map { .milliseconds($0) }
    }

    // MARK: - Report

    /// A queue's state as a passive declare found it.
    enum QueueState: String, Encodable {
        case present, missing, failed
    }

    /// One retry or dead-letter queue: its depth, `nil` when it does not exist (or failed).
    struct SideQueue: Encodable {
        var name: String
        var state: QueueState
        var ready: UInt32?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(state, forKey: .state)
            try container.encode(ready, forKey: .ready)
        }

        private enum CodingKeys: String, CodingKey { case name, state, ready }
    }

    struct QueueReport: Encodable {
        var name: String
        var state: QueueState
        var ready: UInt32?
        var consumers: UInt32?
        /// Ready messages at the second sample minus at the first.
        var readyChange: Int?
        var readyChangePerSecond: Double?
        /// From the workers' handled counters labelled with this queue; `nil` without such a worker.
        var handledPerSecond: Double?
        var retryQueues: [SideQueue]
        var deadLetterQueue: SideQueue
        var error: String?

        // Every key always present (null when unknown), so scripts need no existence checks.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(state, forKey: .state)
            try container.encode(ready, forKey: .ready)
            try container.encode(consumers, forKey: .consumers)
            try container.encode(readyChange, forKey: .readyChange)
            try container.encode(readyChangePerSecond, forKey: .readyChangePerSecond)
            try container.encode(handledPerSecond, forKey: .handledPerSecond)
            try container.encode(retryQueues, forKey: .retryQueues)
            try container.encode(deadLetterQueue, forKey: .deadLetterQueue)
            try container.encode(error, forKey: .error)
        }

        private enum CodingKeys: String, CodingKey {
            case name, state, ready, consumers, readyChange, readyChangePerSecond, handledPerSecond, retryQueues,
                deadLetterQueue, error
        }
    }

    struct WorkerReport: Encodable {
        var url: String
        /// Whether the endpoint answered at all.
        var reachable: Bool
        var ready: Bool?
        var problems: [String]
        /// The `queue` labels of its metrics (the queue it consumes).
        var queues: [String]
        var handled: Int?
        var duplicates: Int?
        var retried: Int?
        var deadLettered: Int?
        var meanBatchSize: Double?
        var outboxBacklog: Int?
        var handledPerSecond: Double?
        /// Not exposed by the worker's endpoint yet (see the README): always null for now.
        var host: String?
        var pid: Int?
        var version: String?
        var error: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(url, forKey: .url)
            try container.encode(reachable, forKey: .reachable)
            try container.encode(ready, forKey: .ready)
            try container.encode(problems, forKey: .problems)
            try container.encode(queues, forKey: .queues)
            try container.encode(handled, forKey: .handled)
            try container.encode(duplicates, forKey: .duplicates)
            try container.encode(retried, forKey: .retried)
            try container.encode(deadLettered, forKey: .deadLettered)
            try container.encode(meanBatchSize, forKey: .meanBatchSize)
            try container.encode(outboxBacklog, forKey: .outboxBacklog)
            try container.encode(handledPerSecond, forKey: .handledPerSecond)
            try container.encode(host, forKey: .host)
            try container.encode(pid, forKey: .pid)
            try container.encode(version, forKey: .version)
            try container.encode(error, forKey: .error)
        }

        private enum CodingKeys: String, CodingKey {
            case url, reachable, ready, problems, queues, handled, duplicates, retried, deadLettered, meanBatchSize,
                outboxBacklog, handledPerSecond, host, pid, version, error
        }
    }

    struct Report: Encodable {
        var broker: String
        var sampledAt: String
        var intervalSeconds: Double
        var queues: [QueueReport]
        var workers: [WorkerReport]
    }

    // MARK: - Sampling

    private enum Probe {
        case present(ready: UInt32, consumers: UInt32)
        case missing
        case failed(String)

        var state: QueueState {
            switch self {
            case .present: .present
            case .missing: .missing
            case .failed: .failed
            }
        }
        var ready: UInt32? { if case .present(let ready, _) = self { ready } else { nil } }
        var consumers: UInt32? { if case .present(_, let consumers) = self { consumers } else { nil } }
        var error: String? { if case .failed(let message) = self { message } else { nil } }
    }

    /// One reading of a worker's endpoint.
    private struct WorkerSample {
        var health: (ready: Bool, problems: [String])?
        var metrics: PrometheusSamples?
        var error: String?
        var answered: Bool { health != nil || metrics != nil }
    }

    private final class BrokerSampler {
        let connection: AMQPConnection
        let address: String
        var channel: UInt16?

        init(connection: AMQPConnection, address: String) {
            self.connection = connection
            self.address = address
        }

        func probe(_ name: String) throws -> Probe {
            do {
                // A 404 closes the channel (not the connection): open another for the next one.
                if channel == nil || !connection.isChannelOpen(channel!) { channel = try connection.openChannel() }
                let status = try connection.queueStatus(channel: channel!, name: name)
                return .present(ready: status.messageCount, consumers: status.consumerCount)
            } catch {
                if error.replyCode == 404 { return .missing }
                if error.connectionIsUsable { return .failed("\(error)") }
                throw CommandFailure("lost RabbitMQ at \(address) while checking '\(name)': \(error)")
            }
        }
    }

    private func sampleWorker(_ endpoint: WorkerEndpoint) -> WorkerSample {
        var sample = WorkerSample()
        switch endpoint.get("/health") {
        case .success(let answer):
            struct Health: Decodable {
                var status: String
                var problems: [String]?
            }
            if let health = try? JSONDecoder().decode(Health.self, from: Data(answer.body.utf8)) {
                sample.health = (health.status == "ready" && answer.status == 200, health.problems ?? [])
            } else {
                sample.error = "/health answered \(answer.status) without a health report"
            }
        case .failure(let error):
            sample.error = error.description
            return sample
        }
        switch endpoint.get("/metrics") {
        case .success(let answer) where answer.status == 200:
            sample.metrics = PrometheusSamples(answer.body)
        case .success(let answer):
            sample.error = "/metrics answered \(answer.status)"
        case .failure(let error):
            sample.error = "/metrics: \(error.description)"
        }
        return sample
    }

    func run() throws {
        try DLQReporting.run(output) { try report() }
    }

    private func report() throws {
        let delays = retryDelays ?? [.seconds(1), .seconds(5), .seconds(30)]
        var names: [String] = []
        for name in (queues.isEmpty ? QueuesCommand.standardQueues : queues) where !names.contains(name) {
            names.append(name)
        }
        let topologies = names.map { Topology(queue: $0, bindings: [], retryDelays: delays) }
        let explicit = !workerURLs.isEmpty
        let endpoints =
            explicit
            ? workerURLs.compactMap { WorkerEndpoint(url: $0) }
            : Self.defaultPorts.map { WorkerEndpoint(host: "127.0.0.1", port: $0) }

        let address = Setting.redacted(broker.resolvedURL)
        let connection: AMQPConnection
        do {
            connection = try AMQPConnection(configuration: broker.configuration(connectionName: "commerce status"))
        } catch {
            throw CommandFailure("cannot reach RabbitMQ at \(address): \(CommandFailure.describe(error))")
        }
        defer { connection.close() }
        let sampler = BrokerSampler(connection: connection, address: address)

        // First sample: the main queues' ready counts and the workers' counters.
        let firstQueues = try names.map { try sampler.probe($0) }
        let firstWorkers = endpoints.map { sampleWorker($0) }
        let started = ContinuousClock.now
        Thread.sleep(forTimeInterval: interval)
        // Second sample: everything.
        let secondQueues = try names.map { try sampler.probe($0) }
        let secondWorkers = endpoints.map { sampleWorker($0) }
        let elapsed = max(0.001, (ContinuousClock.now - started).seconds)

        var workerReports: [WorkerReport] = []
        var handledPerQueue: [String: Double] = [:]
        for (index, endpoint) in endpoints.enumerated() {
            let (first, second) = (firstWorkers[index], secondWorkers[index])
            // The default ports are a guess at what runs here: leave out those that do not answer.
            if !explicit && !first.answered && !second.answered { continue }
            var report = WorkerReport(
                url: endpoint.url, reachable: second.answered, ready: second.health?.ready,
                problems: second.health?.problems ?? [], queues: [], error: second.error)
            if let metrics = second.metrics {
                let handled = metrics.totals("commerce_messages_handled_total", by: "queue")
                report.queues = Set(
                    metrics.samples.compactMap { $0.name.hasPrefix("commerce_") ? $0.labels["queue"] : nil }
                )
                .sorted()
                report.handled = metrics.total("commerce_messages_handled_total").map { Int($0) } ?? 0
                report.duplicates = metrics.total("commerce_messages_duplicate_total").map { Int($0) } ?? 0
                report.retried = metrics.total("commerce_messages_retried_total").map { Int($0) } ?? 0
                report.deadLettered = metrics.total("commerce_messages_dead_lettered_total").map { Int($0) } ?? 0
                report.outboxBacklog = metrics.total("commerce_outbox_backlog").map { Int($0) }
                // Who this copy is (`commerce_worker_info`, from the worker runtime).
                if let info = metrics.samples.first(where: { $0.name == "commerce_worker_info" }) {
                    report.host = info.labels["host"]
                    report.pid = info.labels["pid"].flatMap { Int($0) }
                    report.version = info.labels["version"]
                }
                let sum = metrics.total("commerce_batch_size_sum")
                let count = metrics.total("commerce_batch_size_count")
                if let sum, let count, count > 0 { report.meanBatchSize = sum / count }
                if let before = first.metrics {
                    let earlier = before.totals("commerce_messages_handled_total", by: "queue")
                    var rate = 0.0
                    for (queue, now) in handled {
                        let change = max(0, now - (earlier[queue] ?? 0)) / elapsed
                        handledPerQueue[queue, default: 0] += change
                        rate += change
                    }
                    report.handledPerSecond = rate
                }
            }
            workerReports.append(report)
        }

        var queueReports: [QueueReport] = []
        for (index, topology) in topologies.enumerated() {
            let (first, second) = (firstQueues[index], secondQueues[index])
            var change: Int?
            if let before = first.ready, let after = second.ready { change = Int(after) - Int(before) }
            let retries = try delays.indices.map { tier in
                let name = topology.retryQueue(forTier: tier)
                let probe = try sampler.probe(name)
                return SideQueue(name: name, state: probe.state, ready: probe.ready)
            }
            let dlqProbe = try sampler.probe(topology.deadLetterQueue)
            // A handled rate needs a worker of this queue whose counters were read twice.
            let measured = workerReports.contains { $0.queues.contains(topology.queue) && $0.handledPerSecond != nil }
            queueReports.append(
                QueueReport(
                    name: topology.queue, state: second.state, ready: second.ready, consumers: second.consumers,
                    readyChange: change, readyChangePerSecond: change.map { Double($0) / elapsed },
                    handledPerSecond: measured ? handledPerQueue[topology.queue] ?? 0 : nil, retryQueues: retries,
                    deadLetterQueue: SideQueue(
                        name: topology.deadLetterQueue, state: dlqProbe.state, ready: dlqProbe.ready),
                    error: second.error ?? dlqProbe.error))
        }

        let report = Report(
            broker: address, sampledAt: Date().formatted(.iso8601), intervalSeconds: elapsed, queues: queueReports,
            workers: workerReports)
        if output.json {
            output.printJSON(report)
        } else {
            printText(report, delays: delays)
        }
    }

    // MARK: - Text

    private func printText(_ report: Report, delays: [Duration]) {
        func pad(_ text: String, _ width: Int) -> String {
            text + String(repeating: " ", count: max(0, width - text.count))
        }
        func right(_ text: String, _ width: Int) -> String {
            String(repeating: " ", count: max(0, width - text.count)) + text
        }
        func rate(_ value: Double?) -> String {
            guard let value else { return "–" }
            return String(format: "%.1f", value)
        }
        func count(_ value: (some BinaryInteger)?) -> String { value.map { "\($0)" } ?? "–" }
        func side(_ queue: SideQueue) -> String { queue.state == .present ? count(queue.ready) : "missing" }

        print("RabbitMQ \(report.broker), sampled \(String(format: "%.1f", report.intervalSeconds)) s apart")
        let nameWidth = max(20, report.queues.map(\.name.count).max() ?? 0) + 2
        let retryLabel =
            "RETRY "
            + delays.map { $0.milliseconds % 1000 == 0 ? "\($0.milliseconds / 1000)s" : "\($0.milliseconds)ms" }
            .joined(separator: "/")
        let retryWidth = max(retryLabel.count, 14) + 2
        print(
            pad("QUEUE", nameWidth) + right("READY", 8) + right("READY Δ/s", 11) + right("CONSUMERS", 11) + "  "
                + pad(retryLabel, retryWidth) + right("DLQ", 8) + right("HANDLED/s", 11))
        for queue in report.queues {
            switch queue.state {
            case .missing:
                print(pad(queue.name, nameWidth) + right("missing", 8))
                continue
            case .failed:
                print(pad(queue.name, nameWidth) + right("error", 8) + "  " + (queue.error ?? ""))
                continue
            case .present:
                break
            }
            print(
                pad(queue.name, nameWidth) + right(count(queue.ready), 8) + right(rate(queue.readyChangePerSecond), 11)
                    + right(count(queue.consumers), 11) + "  "
                    + pad(queue.retryQueues.map(side).joined(separator: "/"), retryWidth)
                    + right(side(queue.deadLetterQueue), 8) + right(rate(queue.handledPerSecond), 11))
        }
        print("")
        if report.workers.isEmpty {
            print(
                workerURLs.isEmpty
                    ? "No worker endpoint answered on 127.0.0.1:\(Self.defaultPorts.map(String.init).joined(separator: ", ")) (use --worker URL)."
                    : "No worker endpoints.")
            return
        }
        let urlWidth = max(24, report.workers.map(\.url.count).max() ?? 0) + 2
        let queueWidth = max(8, report.workers.map { $0.queues.joined(separator: ",").count }.max() ?? 0) + 2
        // host, pid and version from the worker's `commerce_worker_info`.
        func copy(_ worker: WorkerReport) -> String {
            guard let host = worker.host else { return "–" }
            return "\(host) pid \(worker.pid.map(String.init) ?? "?") \(worker.version ?? "")"
        }
        let copyWidth = max(6, report.workers.map { copy($0).count }.max() ?? 0) + 2
        print(
            pad("WORKER", urlWidth) + pad("QUEUE", queueWidth) + pad("COPY", copyWidth) + pad("HEALTH", 11)
                + right("HANDLED", 9)
                + right("RETRIED", 9) + right("DEAD", 7) + right("BATCH", 7) + right("OUTBOX", 8)
                + right("HANDLED/s", 11))
        for worker in report.workers {
            let health =
                !worker.reachable
                ? "no answer" : worker.ready == true ? "ready" : worker.ready == false ? "not ready" : "?"
            var line =
                pad(worker.url, urlWidth) + pad(worker.queues.joined(separator: ","), queueWidth)
                + pad(copy(worker), copyWidth) + pad(health, 11)
            if worker.reachable {
                line +=
                    right(count(worker.handled), 9) + right(count(worker.retried), 9)
                    + right(count(worker.deadLettered), 7)
                    + right(worker.meanBatchSize.map { String(format: "%.1f", $0) } ?? "–", 7)
                    + right(count(worker.outboxBacklog), 8) + right(rate(worker.handledPerSecond), 11)
            }
            print(line)
            for problem in worker.problems { print("    ! \(problem)") }
            if let error = worker.error { print("    ! \(error)") }
        }
    }
}
