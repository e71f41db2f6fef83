import Foundation
import Logging
import ServiceLifecycle

/// A running worker: `concurrency` consumers, each a ``BrokerLink`` (I/O thread) plus a
/// processing thread, all feeding one handler: a ``MessageHandler`` (PostgreSQL inbox/outbox) or
/// a ``DocumentHandler`` (MongoDB, one document per message).
///
/// As a swift-service-lifecycle `Service`, it stops on graceful shutdown (SIGTERM/SIGINT through
/// a `ServiceGroup`): consumers stop taking deliveries, finish the batch in hand (handler,
/// commit, publish with confirms, ack), requeue what was prefetched but not started, flush the
/// outbox and close their connections; then `run()` returns.
public final class WorkerService: Service, Sendable {
    public let configuration: WorkerConfiguration
    private let consumers: [(BrokerLink, any ConsumerLoop)]
    private let logger: Logger
    private let completion = Completion()

    /// A worker whose handler applies its effects in PostgreSQL, with the inbox and outbox.
    public convenience init(configuration: WorkerConfiguration, handler: some MessageHandler, logger: Logger) {
        self.init(configuration: configuration, logger: logger) { link, logger, metrics in
            Consumer(configuration: configuration, handler: handler, link: link, logger: logger, metrics: metrics)
        }
    }

    /// A worker whose handler records one MongoDB document per message.
    public convenience init(configuration: WorkerConfiguration, documentHandler: some DocumentHandler, logger: Logger) {
        self.init(configuration: configuration, logger: logger) { link, logger, metrics in
            DocumentConsumer(
                configuration: configuration, handler: documentHandler, link: link, logger: logger, metrics: metrics)
        }
    }

    private init(
        configuration: WorkerConfiguration, logger: Logger,
        makeConsumer: (BrokerLink, Logger, WorkerMetrics) -> any ConsumerLoop
    ) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "queue"] = "\(configuration.topology.queue)"
        self.logger = logger
        let metrics = WorkerMetrics(queue: configuration.topology.queue)
        consumers = (0..<configuration.concurrency).map { _ in
            let link = BrokerLink(
                configuration: BrokerLink.Configuration(
                    amqp: configuration.amqp, topology: configuration.topology,
                    declareTopology: configuration.declareTopology, prefetch: configuration.prefetch,
                    publishTimeout: configuration.publishTimeout, reconnectDelays: configuration.reconnectDelays),
                logger: logger)
            return (link, makeConsumer(link, logger, metrics))
        }
    }

    /// Ready when every consumer has its broker and database connections (for `/health`).
    public var health: WorkerHealth {
        var problems: [String] = []
        for (index, (link, consumer)) in consumers.enumerated() {
            if !link.isConnected {
                problems.append(
                    "consumer \(index): broker not connected\(link.lastConnectionError.map { " (\($0))" } ?? "")")
            }
            if !consumer.isDatabaseUp { problems.append("consumer \(index): database not connected") }
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
        for (index, (link, consumer)) in consumers.enumerated() {
            link.start()
            let thread = Thread { [completion] in
                consumer.run()
                link.stop()
                completion.finishOne()
            }
            thread.name = "consumer-\(configuration.topology.queue)-\(index)"
            thread.start()
        }
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await completion.wait()
            } onGracefulShutdown: { [consumers, logger] in
                logger.info("graceful shutdown: finishing in-flight messages")
                consumers.forEach { $0.1.requestStop() }
            }
        } onCancel: { [consumers] in
            consumers.forEach { $0.1.requestStop() }
        }
        logger.info("worker stopped")
    }
}

/// Readiness of a worker, as `/health` reports it.
public struct WorkerHealth: Sendable {
    public var ready: Bool
    public var problems: [String]
}

/// Counts consumer threads down and wakes the task waiting for all of them.
private final class Completion: @unchecked Sendable {
    // @unchecked: `remaining` and `waiter` are only touched with `lock` held.
    private let lock = NSLock()
    private var remaining = 0
    private var waiter: CheckedContinuation<Void, Never>?

    func expect(_ count: Int) {
        lock.lock()
        remaining = count
        lock.unlock()
    }

    func finishOne() {
        lock.lock()
        remaining -= 1
        let resume = remaining == 0 ? waiter : nil
        if resume != nil { waiter = nil }
        lock.unlock()
        resume?.resume()
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            lock.lock()
            if remaining == 0 {
                lock.unlock()
                continuation.resume()
            } else {
                waiter = continuation
                lock.unlock()
            }
        }
    }
}
