import AMQP
import Foundation
import WorkerRuntime

/// The fleet at a glance, from two samples some seconds apart: what `commerce status` reports.
/// Per worker queue: ready messages, consumers, the retry queues' and the dead-letter queue's
/// depth, and rates; per worker copy: its `/health` and the totals of its `/metrics`.
///
/// Queue counts come from a passive `queue.declare` (which creates nothing). Sampling fails only
/// when the broker is lost; a worker endpoint that does not answer is reported as such.
public struct FleetStatus: Encodable, Sendable {
    /// One retry or dead-letter queue: its depth, `nil` when it does not exist (or failed).
    public struct SideQueue: Encodable, Sendable {
        public var name: String
        public var state: QueueState
        public var ready: UInt32?

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(state, forKey: .state)
            try container.encode(ready, forKey: .ready)
        }

        private enum CodingKeys: String, CodingKey { case name, state, ready }
    }

    /// A worker queue with its retry and dead-letter queues.
    public struct Queue: Encodable, Sendable {
        public var name: String
        public var state: QueueState
        public var ready: UInt32?
        public var consumers: UInt32?
        /// Ready messages at the second sample minus at the first.
        public var readyChange: Int?
        public var readyChangePerSecond: Double?
        /// From the workers' handled counters labelled with this queue; `nil` without such a worker.
        public var handledPerSecond: Double?
        public var retryQueues: [SideQueue]
        public var deadLetterQueue: SideQueue
        public var error: String?

        // Every key always present (null when unknown), so scripts need no existence checks.
        public func encode(to encoder: any Encoder) throws {
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

    /// One worker copy, as its endpoint answered.
    public struct Worker: Encodable, Sendable {
        public var url: String
        /// Whether the endpoint answered at all.
        public var reachable: Bool
        public var ready: Bool?
        public var problems: [String]
        /// The `queue` labels of its metrics (the queue it consumes).
        public var queues: [String]
        public var handled: Int?
        public var duplicates: Int?
        public var retried: Int?
        public var deadLettered: Int?
        public var meanBatchSize: Double?
        public var outboxBacklog: Int?
        public var handledPerSecond: Double?
        /// Who the copy is, from its `commerce_worker_info` metric.
        public var host: String?
        public var pid: Int?
        public var version: String?
        public var error: String?

        public func encode(to encoder: any Encoder) throws {
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

    /// The broker's address, its password redacted.
    public var broker: String
    public var sampledAt: String
    /// The time between the two samples, as measured.
    public var intervalSeconds: Double
    public var queues: [Queue]
    public var workers: [Worker]
    /// The copies that announced themselves (``FleetPresence``), when the stream was read.
    public var presence: FleetPresence? = nil
    /// The RabbitMQ nodes, the queues' replicas and PostgreSQL replication, when read.
    public var cluster: ClusterStatus? = nil

    /// The local fleet's HTTP ports (config/*.json and scripts/run.sh, the second stock-worker on 9195).
    public static let localPorts = [9191, 9192, 9195, 9193, 9194]

    /// Samples `queues` (each with its retry queues, one per delay of `retryDelays`, and its
    /// dead-letter queue) on `connection` and the worker copies at `endpoints` twice, `interval`
    /// apart. `address` names the broker in the report and in errors (give it with its password
    /// redacted). With `omitSilent`, an endpoint that answered neither sample is left out (the
    /// local ports are a guess at what runs here).
    /// - Throws: ``OperationFailure`` when the connection to the broker is lost.
    public static func sample(
        queues: [String], retryDelays: [Duration], endpoints: [WorkerEndpoint], omitSilent: Bool,
        interval: Duration, on connection: AMQPConnection, address: String
    ) throws -> FleetStatus {
        var names: [String] = []
        for name in queues where !names.contains(name) { names.append(name) }
        let topologies = names.map { Topology(queue: $0, bindings: [], retryDelays: retryDelays) }
        let probe = QueueProbe(connection: connection, address: address)

        // First sample: the main queues' ready counts and the workers' counters.
        let firstQueues = try names.map { try probe.check($0) }
        let firstWorkers = endpoints.map { WorkerSample(reading: $0) }
        let started = ContinuousClock.now
        Thread.sleep(forTimeInterval: interval.seconds)
        // Second sample: everything.
        let secondQueues = try names.map { try probe.check($0) }
        let secondWorkers = endpoints.map { WorkerSample(reading: $0) }
        let elapsed = max(0.001, (ContinuousClock.now - started).seconds)

        var workers: [Worker] = []
        var handledPerQueue: [String: Double] = [:]
        for (index, endpoint) in endpoints.enumerated() {
            let (first, second) = (firstWorkers[index], secondWorkers[index])
            if omitSilent && !first.answered && !second.answered { continue }
            var report = Worker(
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
            workers.append(report)
        }

        var queueReports: [Queue] = []
        for (index, topology) in topologies.enumerated() {
            let (first, second) = (firstQueues[index], secondQueues[index])
            var change: Int?
            if let before = first.ready, let after = second.ready { change = Int(after) - Int(before) }
            let retries = try retryDelays.indices.map { tier in
                let name = topology.retryQueue(forTier: tier)
                let found = try probe.check(name)
                return SideQueue(name: name, state: found.state, ready: found.ready)
            }
            let deadLetters = try probe.check(topology.deadLetterQueue)
            // A handled rate needs a worker of this queue whose counters were read twice.
            let measured = workers.contains { $0.queues.contains(topology.queue) && $0.handledPerSecond != nil }
            queueReports.append(
                Queue(
                    name: topology.queue, state: second.state, ready: second.ready, consumers: second.consumers,
                    readyChange: change, readyChangePerSecond: change.map { Double($0) / elapsed },
                    handledPerSecond: measured ? handledPerQueue[topology.queue] ?? 0 : nil, retryQueues: retries,
                    deadLetterQueue: SideQueue(
                        name: topology.deadLetterQueue, state: deadLetters.state, ready: deadLetters.ready),
                    error: second.error ?? deadLetters.error))
        }

        return FleetStatus(
            broker: address, sampledAt: Date().formatted(.iso8601), intervalSeconds: elapsed, queues: queueReports,
            workers: workers)
    }
}

/// One reading of a worker's endpoint: `/health`, then `/metrics`.
private struct WorkerSample {
    var health: (ready: Bool, problems: [String])?
    var metrics: PrometheusSamples?
    var error: String?
    var answered: Bool { health != nil || metrics != nil }

    init(reading endpoint: WorkerEndpoint) {
        switch endpoint.get("/health") {
        case .success(let answer):
            struct Health: Decodable {
                var status: String
                var problems: [String]?
            }
            if let health = try? JSONDecoder().decode(Health.self, from: Data(answer.body.utf8)) {
                self.health = (health.status == "ready" && answer.status == 200, health.problems ?? [])
            } else {
                error = "/health answered \(answer.status) without a health report"
            }
        case .failure(let failure):
            error = failure.description
            return
        }
        switch endpoint.get("/metrics") {
        case .success(let answer) where answer.status == 200:
            metrics = PrometheusSamples(answer.body)
        case .success(let answer):
            error = "/metrics answered \(answer.status)"
        case .failure(let failure):
            error = "/metrics: \(failure.description)"
        }
    }
}
