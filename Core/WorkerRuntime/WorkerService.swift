import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A running worker: `concurrency` consumers, each a ``BrokerLink`` (I/O thread) plus a
/// ``BatchConsumer`` (processing thread) over its own store: a ``MessageHandler`` on PostgreSQL
/// (inbox and outbox) or a ``DocumentHandler`` on MongoDB (one document per message).
///
/// As a swift-service-lifecycle `Service`, it stops on graceful shutdown (SIGTERM/SIGINT through
/// a `ServiceGroup`): consumers stop taking deliveries, finish the batch in hand (handler,
/// commit, publish with confirms, ack), requeue what was prefetched but not started, publish
/// their outbox leftovers and close their connections; then `run()` returns. If that takes longer
/// than the group's graceful-shutdown deadline, the group cancels `run()`, which then throws
/// ``WorkerShutdownTimedOut`` without waiting further: the executable exits non-zero, and
/// whatever did not commit rolls back and goes back to the queue.
public final class WorkerService: Service, Sendable {
    public let configuration: WorkerConfiguration
    private let consumers: [Consumer]
    private let logger: Logger
    private let completion = Completion()
    private let presence: PresencePublisher?

    /// One consumer: its link and its loop, whatever the store.
    private struct Consumer: Sendable {
        let link: BrokerLink
        let run: @Sendable () -> Void
        let requestStop: @Sendable () -> Void
        let isStoreUp: @Sendable () -> Bool
        let unavailableDependency: @Sendable () -> String?
        let activity: @Sendable () -> ConsumerActivity
        let storeKind: String
    }

    /// A worker whose handler applies its effects in PostgreSQL, with the inbox and outbox.
    public convenience init(configuration: WorkerConfiguration, handler: some MessageHandler, logger: Logger) {
        self.init(configuration: configuration, logger: logger) { logger, metrics in
            PostgresStore(configuration: configuration, handler: handler, logger: logger, metrics: metrics)
        }
    }

    /// A worker whose handler records one MongoDB document per message.
    public convenience init(configuration: WorkerConfiguration, documentHandler: some DocumentHandler, logger: Logger) {
        self.init(configuration: configuration, logger: logger) { logger, _ in
            DocumentStore(configuration: configuration, handler: documentHandler, logger: logger)
        }
    }

    private init<Store: BatchStore>(
        configuration: WorkerConfiguration, logger: Logger, makeStore: (Logger, WorkerMetrics) -> Store
    ) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "queue"] = "\(configuration.topology.queue)"
        self.logger = logger
        let knownTypes = Set(configuration.topology.bindings.filter { !$0.contains("*") && !$0.contains("#") })
            .union(FleetCatalog.contractTypes)
        let identity = WorkerIdentity(
            app: configuration.appID, host: ProcessInfo.processInfo.hostName, pid: getpid(),
            version: configuration.version, startedAt: Date(), copyID: configuration.copyID)
        let metrics = WorkerMetrics(
            queue: configuration.topology.queue, knownTypes: knownTypes, identity: identity)
        presence = configuration.presenceInterval.map { interval in
            PresencePublisher(
                configuration: PresencePublisher.Configuration(
                    amqp: configuration.amqp, stream: configuration.presenceStreamName, interval: interval,
                    declare: configuration.declareTopology, reconnectDelays: configuration.reconnectDelays,
                    announcement: WorkerService.announcement(
                        configuration: configuration, identity: identity, interval: interval)),
                queue: configuration.topology.queue, logger: logger)
        }
        // A body over `consumer.maxBodyBytes` is refused while it is read, before it is copied:
        // the queue's dead-letter exchange keeps it (docs/security.md, "Size limits").
        var amqp = configuration.amqp
        amqp.maximumBodySize = configuration.maximumBodySize
        consumers = (0..<configuration.concurrency).map { _ in
            let link = BrokerLink(
                configuration: BrokerLink.Configuration(
                    amqp: amqp, topology: configuration.topology,
                    declareTopology: configuration.declareTopology, prefetch: configuration.prefetch,
                    publishTimeout: configuration.publishTimeout, reconnectDelays: configuration.reconnectDelays,
                    replyTimeout: configuration.brokerReplyTimeout,
                    refused: { metrics.deadLettered(type: $0.properties.type ?? "unknown", reason: "body_too_large") }),
                logger: logger)
            let consumer = BatchConsumer(
                configuration: configuration, store: makeStore(logger, metrics), link: link, logger: logger,
                metrics: metrics)
            return Consumer(
                link: link, run: { consumer.run() }, requestStop: { consumer.requestStop() },
                isStoreUp: { consumer.isStoreUp },
                unavailableDependency: { consumer.unavailableDependency }, activity: { consumer.activity },
                storeKind: consumer.storeKind)
        }
    }

    /// Whether every consumer finished its in-flight work and stopped. False while running, and
    /// after a shutdown whose deadline passed: the executable then exits non-zero whatever the
    /// service group reports.
    public var stoppedCleanly: Bool { completion.isComplete }

    /// Ready when every consumer has its broker and store connections, is not paused for a
    /// dependency's outage and has no batch running past `health.batchDeadlineMs` (for
    /// `/health/ready` and `/health`).
    public var health: WorkerHealth {
        var problems: [String] = []
        for (index, consumer) in consumers.enumerated() {
            if let overrun = consumer.activity().overrun(deadline: configuration.batchDeadline) {
                problems.append("consumer \(index): \(overrun)")
            }
            if !consumer.link.isConnected {
                let reason = consumer.link.lastConnectionError.map { " (\($0))" } ?? ""
                problems.append("consumer \(index): broker not connected\(reason)")
            }
            if !consumer.isStoreUp() { problems.append("consumer \(index): \(consumer.storeKind) not connected") }
            if let dependency = consumer.unavailableDependency() {
                problems.append("consumer \(index): paused, \(dependency) unavailable")
            }
        }
        return WorkerHealth(ready: problems.isEmpty, problems: problems)
    }

    /// Live unless a consumer's loop has stayed in one working phase (waiting for deliveries,
    /// handling a batch, relaying) longer than `health.liveDeadlineMs`: a call that should have
    /// returned did not, and only a restart will help. A consumer paused for an outage is live:
    /// restarting it would not bring the database back (for `/health/live`).
    public var liveness: WorkerHealth {
        var problems: [String] = []
        for (index, consumer) in consumers.enumerated() {
            if let stuck = consumer.activity().stuck(deadline: configuration.liveDeadline) {
                problems.append("consumer \(index): \(stuck)")
            }
        }
        return WorkerHealth(ready: problems.isEmpty, problems: problems)
    }

    public func run() async throws {
        logger.info(
            "worker starting",
            metadata: [
                "broker": "\(configuration.amqp)", "concurrency": "\(configuration.concurrency)",
                "batch_size": "\(configuration.maximumBatchSize)", "prefetch": "\(configuration.prefetch)",
                "queue_type": "\(configuration.topology.queueType)",
            ])
        completion.expect(consumers.count)
        for (index, consumer) in consumers.enumerated() {
            consumer.link.start()
            let thread = Thread { [completion] in
                consumer.run()
                consumer.link.stop()
                completion.finishOne()
            }
            thread.name = "consumer-\(configuration.topology.queue)-\(index)"
            thread.start()
        }
        presence?.start()
        let finished = await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await completion.wait()
            } onGracefulShutdown: { [consumers, logger] in
                logger.info("graceful shutdown: finishing in-flight messages")
                consumers.forEach { $0.requestStop() }
            }
        } onCancel: { [consumers, completion] in
            consumers.forEach { $0.requestStop() }
            completion.abandon()
        }
        // After the consumers: a copy says it stopped only once it has.
        presence?.stop()
        guard finished else {
            logger.critical(
                "shutdown deadline passed with work in flight; abandoning it (nothing uncommitted is acked)")
            throw WorkerShutdownTimedOut()
        }
        logger.info("worker stopped")
    }
}

extension WorkerService {
    /// This copy's announcement: its `/metrics` and `/health` at `presence.advertisedHost`, else
    /// `http.host`, else (listening on every interface) the host name.
    fileprivate static func announcement(
        configuration: WorkerConfiguration, identity: WorkerIdentity, interval: Duration
    ) -> @Sendable (PresenceAnnouncement.State) -> PresenceAnnouncement {
        var base: String?
        if let port = configuration.httpPort {
            var host = configuration.advertisedHost ?? configuration.httpHost
            if configuration.advertisedHost == nil, ["0.0.0.0", "::", ""].contains(host) { host = identity.host }
            if host.contains(":") && !host.hasPrefix("[") { host = "[\(host)]" }
            base = "http://\(host):\(port)"
        }
        return { [base] state in
            PresenceAnnouncement(
                worker: identity.app, queue: configuration.topology.queue, copyID: identity.copyID,
                version: identity.version, host: identity.host, pid: Int(identity.pid),
                metricsURL: base.map { $0 + "/metrics" }, healthURL: base.map { $0 + "/health" },
                startedAt: identity.startedAt, sentAt: Date(), interval: interval, state: state)
        }
    }
}

/// Readiness (or liveness) of a worker, as `/health/ready` (or `/health/live`) reports it.
public struct WorkerHealth: Sendable {
    public var ready: Bool
    public var problems: [String]

    public init(ready: Bool, problems: [String]) {
        self.ready = ready
        self.problems = problems
    }
}

/// The graceful shutdown's deadline passed while consumers were still busy.
public struct WorkerShutdownTimedOut: Error, CustomStringConvertible {
    public var description: String { "the graceful shutdown deadline passed with work in flight" }
}

/// Counts consumer threads down and wakes the task waiting for all of them, or wakes it early
/// when the wait is abandoned.
private final class Completion: Sendable {
    private struct State {
        var remaining = 0
        var abandoned = false
        var waiter: CheckedContinuation<Bool, Never>?
    }
    private let state = Mutex(State())

    func expect(_ count: Int) {
        state.withLock { $0.remaining = count }
    }

    func finishOne() {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            state.remaining -= 1
            guard state.remaining == 0 else { return nil }
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: true)
    }

    var isComplete: Bool { state.withLock { $0.remaining == 0 } }

    func abandon() {
        let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            state.abandoned = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: false)
    }

    /// True when every consumer finished, false when abandoned first.
    func wait() async -> Bool {
        await withCheckedContinuation { continuation in
            let immediate = state.withLock { state -> Bool? in
                if state.remaining == 0 { return true }
                if state.abandoned { return false }
                state.waiter = continuation
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }
}
