import CommerceSupport
import Foundation
import Metrics
import Synchronization

/// The metrics a worker reports (through whatever swift-metrics backend the executable
/// bootstrapped; the workers use Prometheus):
/// - `commerce_messages_handled_total{queue,type}`, `commerce_messages_duplicate_total{queue,type}`,
///   `commerce_messages_retried_total{queue,type}`, `commerce_messages_dead_lettered_total{queue,type,reason}`;
/// - `commerce_batch_size{queue}` (histogram of deliveries per transaction) and
///   `commerce_batch_duration_seconds{queue}` (per batch: admission, decoding, the phase outside the
///   transaction, the transaction, publish with confirms and ack);
/// - `commerce_outbox_backlog{queue}` (unsent outbox rows), `commerce_outbox_relayed_total{queue}`,
///   `commerce_outbox_parked_total{queue}` (rows the relay gave up on after
///   `outbox.parkAfterAttempts` failures), `commerce_outbox_parked{queue}` (parked rows in the
///   outbox, after each relay run), `commerce_database_outages_total{queue}`;
/// - `commerce_message_latency_seconds{queue}`: per message, from the delivery reaching the worker
///   to its acknowledgement (prefetch wait, handler, commit, publish with confirms, ack);
/// - `commerce_retention_deleted_total{queue,table}`: inbox rows removed by retention;
/// - `commerce_batch_database_round_trips{queue}`: round trips to PostgreSQL per batch, from the
///   batch's transaction to the deletion of its published outbox rows;
/// - `commerce_worker_info{queue,app,host,pid,version,copy}` (always 1: who this worker copy is, for
///   `commerce status`) and `commerce_worker_start_time_seconds{queue}` (Unix time it started);
/// - `commerce_presence_last_sent_seconds{queue}` and `commerce_presence_interval_seconds{queue}`:
///   the presence announcements (``PresencePublisher``), when they are on;
/// - `commerce_prepare_duration_seconds{queue}`: per message, the handler's phase outside the
///   transaction (only for handlers that have one).
///
/// The `type` label is the message type only when it is one the worker knows (its bindings and
/// the contract's types); anything else a producer sends is labelled `unknown`, so a producer
/// cannot create an unbounded number of series.
final class WorkerMetrics: Sendable {
    let queue: String
    let batchSize: Recorder
    let batchDuration: Metrics.Timer
    let outboxBacklog: Gauge
    let relayed: Counter
    let outboxParked: Counter
    let outboxParkedRows: Gauge
    let databaseOutages: Counter
    let dependencyOutages: Counter
    let messageLatency: Metrics.Timer
    let prepareDuration: Metrics.Timer
    let batchRoundTrips: Recorder
    private let knownTypes: Set<String>
    private let counters = Mutex<[String: Counter]>([:])

    init(queue: String, knownTypes: Set<String>, identity: WorkerIdentity? = nil) {
        self.queue = queue
        self.knownTypes = knownTypes
        if let identity {
            Gauge(
                label: "commerce_worker_info",
                dimensions: [
                    ("queue", queue), ("app", identity.app), ("host", identity.host), ("pid", "\(identity.pid)"),
                    ("version", identity.version), ("copy", identity.copyID),
                ]
            ).record(1)
            Gauge(label: "commerce_worker_start_time_seconds", dimensions: [("queue", queue)])
                .record(identity.startedAt.timeIntervalSince1970)
        }
        let dimensions = [("queue", queue)]
        batchSize = Recorder(label: "commerce_batch_size", dimensions: dimensions, aggregate: true)
        batchDuration = Metrics.Timer(
            label: "commerce_batch_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
        outboxBacklog = Gauge(label: "commerce_outbox_backlog", dimensions: dimensions)
        relayed = Counter(label: "commerce_outbox_relayed_total", dimensions: dimensions)
        outboxParked = Counter(label: "commerce_outbox_parked_total", dimensions: dimensions)
        outboxParkedRows = Gauge(label: "commerce_outbox_parked", dimensions: dimensions)
        databaseOutages = Counter(label: "commerce_database_outages_total", dimensions: dimensions)
        dependencyOutages = Counter(label: "commerce_dependency_outages_total", dimensions: dimensions)
        messageLatency = Metrics.Timer(
            label: "commerce_message_latency_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
        batchRoundTrips = Recorder(
            label: "commerce_batch_database_round_trips", dimensions: dimensions, aggregate: true)
        prepareDuration = Metrics.Timer(
            label: "commerce_prepare_duration_seconds", dimensions: dimensions, preferredDisplayUnit: .seconds)
    }

    /// The `type` label for a message type: itself if known, `unknown` otherwise.
    func typeLabel(_ type: String) -> String { knownTypes.contains(type) ? type : "unknown" }

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
        let type = typeLabel(type)
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

/// Who a worker copy is, as `commerce_worker_info` reports it.
struct WorkerIdentity: Sendable {
    var app: String
    var host: String
    var pid: Int32
    /// ``WorkerConfiguration/version``.
    var version: String
    var startedAt: Date
    /// ``WorkerConfiguration/copyID``.
    var copyID: String
}
