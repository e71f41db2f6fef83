import AMQP
import CommerceSupport
import CommerceTracing
import Foundation
import Logging
import Resilience
import Synchronization

/// The processing side of one consumer, whatever its store: the one batch loop of the runtime.
///
/// Runs on a dedicated thread (the store's connection is confined to it; never Swift's
/// cooperative pool). It connects the store first and only then asks its ``BrokerLink`` to
/// consume, so a copy whose store is unreachable holds no deliveries. Then, per batch (the
/// deliveries already in the prefetch buffer, never waiting for more):
/// 1. admission checks and decoding, by message; failures are parked, the rest go on;
/// 2. the store's phase outside the transaction, then its transaction (``BatchStore/apply(_:)``);
/// 3. one confirm window for the outbox and every retry or dead-letter copy;
/// 4. one ack (`multiple` where possible) for what is settled, a requeue for copies the broker
///    did not confirm.
/// A store outage pauses consumption (everything held goes back to the queue for healthy
/// copies), reconnects with backoff and resumes. See docs/architecture.md, "The batch loop".
final class BatchConsumer<Store: BatchStore>: @unchecked Sendable {
    // @unchecked: `store` is touched only by the consumer's own thread; the flags other threads
    // read live in `state` (a Mutex).

    private struct State {
        var stopRequested = false
        var storeUp = false
        var unavailableDependency: String?
        var activity = ConsumerActivity(.paused)
    }

    private let configuration: WorkerConfiguration
    private let store: Store
    private let link: BrokerLink
    private let logger: Logger
    private let metrics: WorkerMetrics
    private let failures: FailureRouter
    private let state = Mutex(State())
    private let wake = NSCondition()

    init(configuration: WorkerConfiguration, store: Store, link: BrokerLink, logger: Logger, metrics: WorkerMetrics) {
        self.configuration = configuration
        self.store = store
        self.link = link
        self.logger = logger
        self.metrics = metrics
        failures = FailureRouter(configuration: configuration, logger: logger, metrics: metrics)
    }

    /// Asks the loop to finish its batch and return.
    func requestStop() {
        state.withLock { $0.stopRequested = true }
        // Under the condition's lock, so a sleeper between its check and its wait still wakes.
        wake.lock()
        wake.broadcast()
        wake.unlock()
    }

    private var isStopping: Bool { state.withLock { $0.stopRequested } }

    /// Whether the store is connected (for `/health`).
    var isStoreUp: Bool { state.withLock { $0.storeUp } }

    var storeKind: String { store.kind }

    /// The dependency the consumer is paused for (``DependencyOutage``), if any (for `/health`).
    var unavailableDependency: String? { state.withLock { $0.unavailableDependency } }

    /// What the loop is doing and since when (for `/health/live` and `/health/ready`).
    var activity: ConsumerActivity { state.withLock { $0.activity } }

    private func enter(_ phase: ConsumerActivity.Phase) {
        state.withLock { $0.activity = ConsumerActivity(phase) }
    }

    // MARK: - Loop

    /// The thread's body. Returns after a stop request, once the batch in hand is settled,
    /// deliveries not started are requeued and the store's leftovers (the outbox) are published.
    func run() {
        guard connectStore() else { return }
        link.setConsuming(true)
        while !isStopping {
            enter(.waiting)
            let batch = link.takeDeliveries(maximum: configuration.maximumBatchSize, timeout: .seconds(1))
            if !batch.isEmpty {
                enter(.handling)
                if let dependency = process(batch) { rideOutDependencyOutage(dependency) }
            }
            enter(.maintaining)
            do throws(StoreOutage) {
                try store.maintain(using: link, final: false)
            } catch {
                rideOutOutage(error)
            }
        }
        // Graceful stop: no new deliveries; what was prefetched but not started goes back to the queue.
        link.setConsuming(false)
        try? store.maintain(using: link, final: true)
        store.disconnect()
        logger.info("consumer stopped", metadata: ["queue": "\(configuration.topology.queue)"])
    }

    /// Connects the store with backoff until it answers (true) or the worker stops (false).
    private func connectStore() -> Bool {
        do {
            try withBlockingRetry(
                policy: RetryPolicy(maximumAttempts: .max, backoff: configuration.reconnectDelays),
                onRetry: { error, attempt, delay in
                    logger.warning(
                        "\(store.kind) unreachable",
                        metadata: ["error": "\(error)", "attempt": "\(attempt)", "retry_in": "\(delay)"])
                },
                sleep: sleepUnlessStopping
            ) {
                if isStopping { throw CancellationError() }
                try store.connect()
            }
            state.withLock { $0.storeUp = true }
            return true
        } catch {
            return false
        }
    }

    /// The store is down: stop taking deliveries (the broker requeues those held, so healthy
    /// copies of the worker can take them), reconnect with backoff, then consume again. Messages
    /// are not burnt through the retry tiers for an outage that is not their fault.
    private func rideOutOutage(_ outage: StoreOutage) {
        enter(.paused)
        logger.error("\(store.kind) failure; pausing consumption", metadata: ["error": "\(outage)"])
        metrics.databaseOutages.increment()
        state.withLock { $0.storeUp = false }
        link.setConsuming(false)
        store.disconnect()
        if connectStore() {
            logger.info("\(store.kind) is back; consuming again")
            link.setConsuming(true)
        }
    }

    /// A dependency of the handler's `prepare` is down (its circuit is open): like a store outage,
    /// stop taking deliveries (the broker requeues those held), probe with backoff until it
    /// answers, then consume again. The messages that met the outage were requeued without an
    /// attempt counted.
    private func rideOutDependencyOutage(_ dependency: String) {
        enter(.paused)
        logger.error("\(dependency) unavailable; pausing consumption")
        metrics.dependencyOutages.increment()
        state.withLock { $0.unavailableDependency = dependency }
        link.setConsuming(false)
        var attempt = 0
        while !isStopping {
            attempt += 1
            sleepUnlessStopping(configuration.reconnectDelays.delay(forAttempt: attempt))
            if isStopping { break }
            if store.probeDependencies() {
                logger.info("\(dependency) answers again; consuming again", metadata: ["probes": "\(attempt)"])
                state.withLock { $0.unavailableDependency = nil }
                link.setConsuming(true)
                return
            }
        }
    }

    private func sleepUnlessStopping(_ delay: Duration) {
        let deadline = Date().addingTimeInterval(delay.seconds)
        wake.lock()
        defer { wake.unlock() }
        while !isStopping && wake.wait(until: deadline) {}
    }

    // MARK: - One batch

    /// Processes one batch; returns the dependency whose outage some of its messages met, if any
    /// (those messages were requeued, and the caller pauses).
    private func process(_ deliveries: [IncomingMessage]) -> String? {
        let started = ContinuousClock.now
        metrics.batchSize.record(deliveries.count)
        var batch = deliveries
        // Off by default: without a tracer the loop makes no span and touches no envelope.
        let tracing = configuration.tracer.map {
            BatchTracing(tracer: $0, queue: configuration.topology.queue, batch: &batch)
        }
        defer { tracing?.end() }
        var failed: [(IncomingMessage, HandlingFailure)] = []
        var pending: [PendingMessage<Store.Work>] = []
        pending.reserveCapacity(batch.count)
        for incoming in batch {
            if let failure = Admission.failure(
                of: incoming, maximumBodySize: configuration.maximumBodySize, senders: configuration.senders)
            {
                failed.append((incoming, failure))
                continue
            }
            do throws(HandlingFailure) {
                pending.append(PendingMessage(incoming: incoming, work: try store.work(for: incoming)))
            } catch {
                failed.append((incoming, error))
            }
        }
        let preparationFailures = store.prepare(&pending)
        var outage: (dependency: String, messages: [IncomingMessage])?
        if !preparationFailures.isEmpty {
            for (index, failure) in preparationFailures.sorted(by: { $0.key < $1.key }) {
                if let dependency = failure.outageOf {
                    // Not the message's fault: back to the queue, no attempt counted.
                    outage = (dependency, (outage?.messages ?? []) + [pending[index].incoming])
                } else {
                    failed.append((pending[index].incoming, failure))
                }
            }
            pending = pending.indices.filter { preparationFailures[$0] == nil }.map { pending[$0] }
        }

        var settled = SettledBatch(failed: failed, requeued: outage?.messages ?? [])
        if !pending.isEmpty {
            let applied: AppliedBatch
            do throws(StoreOutage) {
                applied = try store.apply(pending)
            } catch {
                // The pause requeues everything we hold, this batch included.
                rideOutOutage(error)
                return nil
            }
            for (message, outcome) in zip(pending, applied.outcomes) {
                switch outcome {
                case .applied: settled.applied.append(message.incoming)
                case .duplicate: settled.duplicates.append(message.incoming)
                case .failed(let failure): settled.failed.append((message.incoming, failure))
                }
            }
            settled.outbox = applied.outbox
            configuration.afterCommit?(settled.applied.map(\.envelope.messageID))
        }
        if let tracing {
            for (message, failure) in settled.failed { tracing.failed(message, failure) }
        }
        settle(settled, tracing: tracing)
        metrics.batchDuration.recordNanoseconds(Int64((ContinuousClock.now - started).seconds * 1e9))
        return outage?.dependency
    }

    /// A batch after the store: what to publish, ack and count.
    private struct SettledBatch {
        var failed: [(IncomingMessage, HandlingFailure)]
        /// Messages that met a dependency outage: requeued as they are.
        var requeued: [IncomingMessage] = []
        var applied: [IncomingMessage] = []
        var duplicates: [IncomingMessage] = []
        var outbox: [OutboxRow] = []

        /// The pure plan's view of it: delivery tags only.
        var settlement: Settlement {
            Settlement(
                applied: applied.map(\.deliveryTag), duplicates: duplicates.map(\.deliveryTag),
                failed: failed.map(\.0.deliveryTag), requeued: requeued.map(\.deliveryTag), outboxCount: outbox.count)
        }

        var generation: UInt64 {
            (applied.first ?? duplicates.first ?? failed.first?.0 ?? requeued.first)?.generation ?? 0
        }
    }

    /// Publishes the outbox and the retry/dead-letter copies in one confirm window, then carries
    /// out the ``Settlement`` plan: acks with as few frames as possible, requeues, counts.
    private func settle(_ settled: SettledBatch, tracing: BatchTracing?) {
        var publications: [BrokerLink.Publication]
        var publishSpans: [CommerceSpan?] = []
        if let tracing, !settled.outbox.isEmpty {
            (publications, publishSpans) = tracing.publications(settled.outbox)
        } else {
            publications = settled.outbox.map(\.publication)
        }
        for (incoming, failure) in settled.failed {
            publications.append(failures.publication(for: incoming, failure))
        }
        let outcomes: [AMQPConnection.PublishOutcome]?
        switch link.publish(publications) {
        case .success(let result):
            outcomes = result
        case .failure(let error):
            // The outbox rows stay unsent and the relay publishes them. The batch is requeued (a
            // no-op if the connection is gone: the broker requeues then): on redelivery the
            // store skips what already took effect and failures are parked again.
            logger.warning("publish failed; requeueing the batch", metadata: ["error": "\(error)"])
            outcomes = nil
        }
        if !publishSpans.isEmpty {
            BatchTracing.endPublishing(publishSpans, outcomes: outcomes.map { Array($0.prefix(publishSpans.count)) })
        }
        for action in settled.settlement.plan(publishOutcomes: outcomes) {
            switch action {
            case .recordParked(let index):
                let (incoming, failure) = settled.failed[index]
                failures.record(incoming, failure)
            case .keepUnparked(let index, let outcome):
                // The retry or dead-letter copy did not reach the broker: keep the original.
                logger.error(
                    "could not park a failed message; requeueing it",
                    metadata: [
                        "message_id": "\(settled.failed[index].0.envelope.messageID)",
                        "outcome": "\(FailureRouter.describe(outcome))",
                    ])
            case .beforeAck:
                configuration.beforeAck?(settled.applied.map(\.envelope.messageID))
            case .acknowledge(let ack, let requeue):
                let result = link.acknowledge(ack: ack, requeue: requeue, generation: settled.generation)
                if case .failure(let error) = result, outcomes != nil {
                    logger.warning("ack failed; the broker will redeliver", metadata: ["error": "\(error)"])
                }
            case .countSettled:
                let acked = ContinuousClock.now
                for message in settled.applied {
                    metrics.handled(type: message.envelope.type)
                    metrics.messageLatency.recordNanoseconds(Int64((acked - message.receivedAt).seconds * 1e9))
                }
                for message in settled.duplicates {
                    metrics.duplicate(type: message.envelope.type)
                    logger.debug("duplicate skipped", metadata: ["message_id": "\(message.envelope.messageID)"])
                }
            case .finishPublishing(let outcomes):
                store.finishPublishing(settled.outbox, outcomes: outcomes)
            case .journalFailures(let indices):
                store.journalFailures(indices.map { settled.failed[$0] })
            }
        }
    }
}
