import AMQP
import ArgumentParser
import CommandLineSupport
import FleetOperations
import Foundation
import WorkerRuntime

/// `commerce status`: the fleet at a glance (``FleetOperations/FleetStatus``), from two samples
/// `--interval` apart, as a table or JSON.
///
/// Fails only when the broker cannot be reached; a worker endpoint that does not answer is shown
/// as such.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the worker queues (depths, consumers, rates) and each worker copy's health and counters.",
        discussion: """
            Queues: \(QueueDepth.fleetQueues.joined(separator: ", ")) (or the --queue names), each with \
            its retry queues (<queue>.retry.<delay>, from --retry-delays-ms) and <queue>.dlq. They are \
            sampled twice, --interval apart: the change in ready messages per second, and messages \
            handled per second from the workers' commerce_messages_handled_total. Copies: every copy \
            that announced itself on the presence stream (<exchange>.presence) in the last \
            --presence-window seconds, running, stale (no heartbeat for three of its intervals) or \
            stopped. Workers: every --worker URL, else every copy found that has not stopped, else \
            the local fleet's \(defaultPorts.map { "127.0.0.1:\($0)" }.joined(separator: ", ")) \
            (those that do not answer are left out); /health and /metrics are read. Cluster: the \
            RabbitMQ nodes (running, partitions, memory and disk alarms) and each worker queue's \
            leader and members, from the management API (--management-url, default port \
            \(ClusterStatus.managementPort) of each broker host of an amqp:// URL, or of a loopback \
            host of an amqps:// one; the user needs the monitoring tag), and each store's standbys \
            with their replay lag from pg_stat_replication (the role needs pg_read_all_stats).
            """)

    /// The local fleet's HTTP ports, asked when no --worker is given.
    static let defaultPorts = FleetStatus.localPorts

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

    @Option(
        help: ArgumentHelp(
            "The topic exchange (the workers' EXCHANGE_NAME): its presence stream is <exchange>.presence.",
            valueName: "name"))
    var exchange = "commerce"

    @Option(
        help: ArgumentHelp(
            "The presence stream to read instead of <exchange>.presence (the workers' PRESENCE_STREAM).",
            valueName: "name"))
    var presenceStream: String?

    @Option(help: ArgumentHelp("Seconds of announcements to read (default 300).", valueName: "seconds"))
    var presenceWindow: Double = 300

    @Flag(help: "Do not read the presence stream.")
    var noDiscovery = false

    @Option(
        name: .customLong("management-url"),
        help: ArgumentHelp(
            "A RabbitMQ management API, http://host:port, to read the nodes and queue replicas from "
                + "(repeatable; the first that answers is used).", valueName: "url"))
    var managementURLs: [String] = []

    @Flag(help: "Do not read the RabbitMQ nodes or PostgreSQL replication.")
    var noCluster = false

    @OptionGroup var stores: StoreOptions

    @OptionGroup var output: OutputOptions

    func validate() throws {
        for (option, name) in [("--exchange", exchange), ("--presence-stream", presenceStream ?? "x")] {
            guard !name.isEmpty, name.utf8.count <= 240 else {
                throw ValidationError("\(option) needs a name of 1 to 240 bytes, got '\(name)'")
            }
        }
        guard presenceWindow.isFinite, presenceWindow > 0, presenceWindow <= 3600 else {
            throw ValidationError(
                "--presence-window must be more than 0 and at most 3600 seconds, got \(presenceWindow)")
        }
        for name in queues {
            guard !name.isEmpty, name.utf8.count <= 240 else {
                throw ValidationError("--queue needs a name of 1 to 240 bytes, got '\(name)'")
            }
        }
        for url in managementURLs where WorkerEndpoint(url: url) == nil {
            throw ValidationError("--management-url needs http://host:port, got '\(url)'")
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

    func run() throws {
        try DLQReporting.run(output) { try report() }
    }

    private func report() throws {
        let delays = retryDelays ?? [.seconds(1), .seconds(5), .seconds(30)]

        let address = Setting.redacted(broker.resolvedURL)
        let connection: AMQPConnection
        do {
            connection = try AMQPConnection(configuration: broker.configuration(connectionName: "commerce status"))
        } catch {
            throw CommandFailure("cannot reach RabbitMQ at \(address): \(CommandFailure.describe(error))")
        }
        defer { connection.close() }
        let presence =
            noDiscovery
            ? nil
            : try FleetPresence.read(
                stream: presenceStream ?? PresenceStream.name(exchange: exchange), window: .seconds(presenceWindow),
                on: connection, address: address)
        // --worker names what to probe; else the copies found; else a guess at the local fleet.
        let discovered = presence?.endpoints ?? []
        let explicit = !workerURLs.isEmpty || !discovered.isEmpty
        let endpoints =
            !workerURLs.isEmpty
            ? workerURLs.compactMap { WorkerEndpoint(url: $0) }
            : !discovered.isEmpty ? discovered : Self.defaultPorts.map { WorkerEndpoint(host: "127.0.0.1", port: $0) }
        var report = try FleetStatus.sample(
            queues: queues.isEmpty ? QueueDepth.fleetQueues : queues, retryDelays: delays, endpoints: endpoints,
            omitSilent: !explicit, interval: .seconds(interval), on: connection, address: address)
        report.presence = presence
        if !noCluster { report.cluster = try cluster(queues: queues.isEmpty ? QueueDepth.fleetQueues : queues) }
        if output.json {
            output.printJSON(report)
        } else {
            printText(report, delays: delays)
        }
    }

    /// The cluster part: never fails the command (an unreachable API or database is a line of it).
    private func cluster(queues: [String]) throws -> ClusterStatus {
        let configuration = try broker.configuration(connectionName: "commerce status")
        // Basic credentials go in clear over HTTP: only where the AMQP URL sends them in clear
        // already, or to loopback.
        let loopback: Set<String> = ["127.0.0.1", "localhost", "::1", "[::1]"]
        let endpoints =
            !managementURLs.isEmpty
            ? managementURLs.compactMap { WorkerEndpoint(url: $0) }
            : configuration.endpoints
                .filter { configuration.tls == nil || loopback.contains($0.host) }
                .map { WorkerEndpoint(host: $0.host, port: ClusterStatus.managementPort) }
        let brokerPart = ClusterStatus.readBroker(
            endpoints: endpoints, username: configuration.username, password: configuration.password,
            virtualHost: configuration.virtualHost, queues: queues)
        let replication = ClusterStatus.readReplication(
            stores: StoreOptions.Store.allCases.map { (store: $0.rawValue, url: stores.url($0)) })
        return ClusterStatus(broker: brokerPart, replication: replication)
    }

    // MARK: - Text

    private func printText(_ report: FleetStatus, delays: [Duration]) {
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
        func side(_ queue: FleetStatus.SideQueue) -> String { queue.state == .present ? count(queue.ready) : "missing" }

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
        if let cluster = report.cluster {
            for line in cluster.textLines { print(line) }
            print("")
        }
        if let presence = report.presence { printPresence(presence) }
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
        func copy(_ worker: FleetStatus.Worker) -> String {
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
