import Metrics
import Synchronization

/// The metrics a worker reports (through whatever swift-metrics backend the executable
/// bootstrapped; the workers use Prometheus):
/// - `commerce_messages_handled_total{queue,type}`, `commerce_messages_duplicate_total{queue,type}`,
///   `commerce_messages_retried_total{queue,type}`, `commerce_messages_dead_lettered_total{queue,type,reason}`;
/// - `commerce_batch_size{queue}` (histogram of deliveries per transaction) and
///   `commerce_batch_duration_seconds{queue}` (handler transaction + publish + ack, per batch);
/// - `commerce_outbox_backlog{queue}` (unsent outbox rows), `commerce_outbox_relayed_total{queue}`,
///   `commerce_database_outages_total{queue}`;
/// - `commerce_message_latency_seconds{queue}`: per message, from the delivery reaching the worker
///   to its acknowledgement (prefetch wait, handler, commit, publish with confirms, ack);
/// - `commerce_retention_deleted_total{queue,table}`: inbox and outbox rows removed by retention.
final class WorkerMetrics: Sendable {
    let queue: String
    let batchSize: Recorder
    let batchDuration: Metrics.Timer
    let outboxBacklog: Gauge
    let relayed: Counter
    let databaseOutages: Counter
    let messageLatency: Metrics.Timer
    private let counters = Mutex<[String: Counter]>([:])

    init(queue: String) {
        self.queue = queue
        let dimensions = [("queue", queue)]
        batchSize = Recorder(label: "commerce_batch_size", dimensions: dimensions, aggregate: true)
        batchDuration = Metrics.Timer(
            label: "commerce_batch_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
        outboxBacklog = Gauge(label: "commerce_outbox_backlog", dimensions: dimensions)
        relayed = Counter(label: "commerce_outbox_relayed_total", dimensions: dimensions)
        databaseOutages = Counter(label: "commerce_database_outages_total", dimensions: dimensions)
        messageLatency = Metrics.Timer(
            label: "commerce_message_latency_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
    }

    func handled(type: String) { counter("commerce_messages_handled_total", type: type).increment() }
    func retentionDeleted(table: String, count: Int) {
        Counter(label: "commerce_retention_deleted_total", dimensions: [("queue", queue), ("table", table)])
            .increment(by: count)
    }
    func duplicate(type: String) { counter("commerce_messages_duplicate_total", type: type).increment() }
    func retried(type: String) { counter("commerce_messages_retried_total", type: type).increment() }
    func deadLettered(type: String, reason: String) {
        counter("commerce_messages_dead_lettered_total", type: type, reason: reason).increment()
    }

    /// Counters are made once per label and dimensions, then reused.
    private func counter(_ label: String, type: String, reason: String? = nil) -> Counter {
        let key = "\(label)|\(type)|\(reason ?? "")"
        return counters.withLock { cache in
            if let counter = cache[key] { return counter }
            var dimensions = [("queue", queue), ("type", type)]
            if let reason { dimensions.append(("reason", reason)) }
            let counter = Counter(label: label, dimensions: dimensions)
            cache[key] = counter
            return counter
        }
    }
}
