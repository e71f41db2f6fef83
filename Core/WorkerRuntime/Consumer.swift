import AMQP
import CommerceMessages
import Foundation
import Logging
import Metrics
import Postgres
import Resilience

/// The processing side of one consumer: takes batches of deliveries from its ``BrokerLink``,
/// runs the handler for all of them in one PostgreSQL transaction with the inbox and outbox,
/// publishes the outbox with confirms, and acknowledges the batch with one `multiple` ack.
///
/// Runs on a dedicated thread that owns the database connection; never on Swift's cooperative
/// pool. See ``WorkerService`` for how consumers start and stop.
final class Consumer<Handler: MessageHandler>: ConsumerLoop, @unchecked Sendable {
    // @unchecked: `database`, `lastRelay` and the counters are touched only by the consumer's own
    // thread; `stopRequested`/`state` are guarded by `lock`.

    private let configuration: WorkerConfiguration
    private let handler: Handler
    private let link: BrokerLink
    private let logger: Logger
    private let metrics: WorkerMetrics
    private let failures: FailureRouter
    private let lock = NSLock()
    private var stopRequested = false
    private var databaseUp = false
    private var database: PostgresConnection?
    private var lastRelay = ContinuousClock.now - .seconds(3600)
    private var lastRetention = ContinuousClock.now

    init(configuration: WorkerConfiguration, handler: Handler, link: BrokerLink, logger: Logger, metrics: WorkerMetrics)
    {
        self.configuration = configuration
        self.handler = handler
        self.link = link
        self.logger = logger
        self.metrics = metrics
        failures = FailureRouter(configuration: configuration, logger: logger, metrics: metrics)
    }

    /// Asks the loop to finish its batch and return.
    func requestStop() {
        lock.lock()
        stopRequested = true
        lock.unlock()
    }

    private var isStopping: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopRequested
    }

    /// Whether the database connection is up (for `/health`).
    var isDatabaseUp: Bool {
        lock.lock()
        defer { lock.unlock() }
        return databaseUp
    }

    private func setDatabaseUp(_ up: Bool) {
        lock.lock()
        databaseUp = up
        lock.unlock()
    }

    // MARK: - Loop

    /// The consumer thread's body. Returns after a stop request, once the batch in hand is
    /// settled, deliveries not started are requeued and the outbox is flushed.
    func run() {
        connectDatabase()
        while !isStopping {
            let wait = max(.milliseconds(10), configuration.relayInterval - (ContinuousClock.now - lastRelay))
            let batch = link.takeDeliveries(maximum: configuration.maximumBatchSize, timeout: min(wait, .seconds(1)))
            if !batch.isEmpty { process(batch) }
            if ContinuousClock.now - lastRelay >= configuration.relayInterval {
                relayOutbox(grace: configuration.relayGrace)
            }
            if ContinuousClock.now - lastRetention >= configuration.retentionInterval { applyRetention() }
        }
        // Graceful stop: no new deliveries; what was prefetched but not started goes back to the queue.
        link.setConsuming(false)
        relayOutbox(grace: .zero)
        database?.close()
        database = nil
        logger.info("consumer stopped", metadata: ["queue": "\(configuration.topology.queue)"])
    }

    /// Connects (and migrates) with backoff until the database answers or the worker stops.
    private func connectDatabase() {
        var attempt = 0
        while !isStopping {
            do {
                let connection = try PostgresConnection(
                    url: configuration.databaseURL, applicationName: configuration.appID)
                try RuntimeSchema.migrate(connection, then: handler.migrate)
                database = connection
                setDatabaseUp(true)
                if attempt > 0 { logger.info("database is back", metadata: ["attempts": "\(attempt)"]) }
                return
            } catch {
                attempt += 1
                setDatabaseUp(false)
                let delay = configuration.reconnectDelays.delay(forAttempt: attempt)
                logger.warning("database unreachable", metadata: ["error": "\(error)", "retry_in": "\(delay)"])
                sleep(delay)
            }
        }
    }

    /// The database is down: stop taking deliveries (requeueing those we hold, so healthy copies
    /// of the worker can take them), probe with backoff, then consume again. Messages are not
    /// burnt through the retry tiers for an outage that is not their fault.
    private func rideOutDatabaseOutage(_ error: any Error) {
        logger.error("database failure; pausing consumption", metadata: ["error": "\(error)"])
        metrics.databaseOutages.increment()
        setDatabaseUp(false)
        link.setConsuming(false)
        database?.close()
        database = nil
        connectDatabase()
        if !isStopping { link.setConsuming(true) }
    }

    private func sleep(_ delay: Duration) {
        let deadline = ContinuousClock.now + delay
        while !isStopping && ContinuousClock.now < deadline {
            Thread.sleep(forTimeInterval: min(0.2, (deadline - ContinuousClock.now).seconds))
        }
    }

    // MARK: - One batch

    private struct Candidate {
        var incoming: IncomingMessage
        var message: Handler.Message
    }

    private enum TransactionFailure: Error {
        case handler(index: Int, error: any Error)
        case infrastructure(any Error)
    }

    private struct Committed {
        var processed: [IncomingMessage] = []
        var duplicates: [IncomingMessage] = []
        var outbox: [OutboxRow] = []
    }

    private func process(_ batch: [IncomingMessage]) {
        let started = ContinuousClock.now
        metrics.batchSize.record(batch.count)
        var failures: [(IncomingMessage, HandlingFailure)] = []
        var candidates: [Candidate] = []
        for incoming in batch {
            if let failure = incoming.admissionFailure(maximumBodySize: configuration.maximumBodySize) {
                failures.append((incoming, failure))
                continue
            }
            do {
                candidates.append(Candidate(incoming: incoming, message: try handler.decode(incoming)))
            } catch {
                var failure = HandlingFailure.classify(error)
                failure.failureClass = .permanent  // a body that does not decode never will
                failures.append((incoming, failure))
            }
        }
        // Rows are locked in correlation-id order so that copies of a worker do not deadlock;
        // the sort is stable, so one saga's messages keep their order.
        candidates = candidates.enumerated().sorted {
            ($0.element.incoming.envelope.correlationID, $0.offset) < (
                $1.element.incoming.envelope.correlationID, $1.offset
            )
        }.map(\.element)

        var committed = Committed()
        var conflicts = 0
        while true {
            guard let database else {
                rideOutDatabaseOutage(PostgresError(code: .connectionLost, message: "no database connection"))
                return
            }
            do throws(TransactionFailure) {
                committed = try runTransaction(candidates, on: database)
                break
            } catch {
                switch error {
                case .handler(let index, let cause):
                    if let postgres = cause as? PostgresError, postgres.isRetryableConflict, conflicts < 3 {
                        conflicts += 1  // a deadlock or serialization failure: run the same batch again
                        continue
                    }
                    failures.append((candidates[index].incoming, HandlingFailure.classify(cause)))
                    candidates.remove(at: index)
                case .infrastructure(let cause):
                    // Everything we hold is requeued by the pause, this batch included.
                    rideOutDatabaseOutage(cause)
                    return
                }
            }
        }
        configuration.afterCommit?(committed.processed.map(\.envelope.messageID))
        settle(committed, failures: failures)
        let elapsed = ContinuousClock.now - started
        metrics.batchDuration.recordNanoseconds(Int64(elapsed.seconds * 1e9))
    }

    /// One transaction for the batch: inbox rows, handlers, outbox rows.
    private func runTransaction(_ candidates: [Candidate], on database: PostgresConnection) throws(TransactionFailure)
        -> Committed
    {
        var committed = Committed()
        do {
            try database.query("begin")
        } catch {
            throw .infrastructure(error)
        }
        do {
            let ids = candidates.map(\.incoming.envelope.messageID)
            let inserted = try database.query(
                """
                insert into runtime_inbox (consumer, message_id)
                select $1, id from unnest($2::text[]) as id
                on conflict do nothing returning message_id
                """, [.text(configuration.consumerName), .textArray(ids)])
            var fresh = Set(try inserted.rows.map { try $0.string("message_id") })
            var outgoing: [OutgoingMessage] = []
            for (index, candidate) in candidates.enumerated() {
                let envelope = candidate.incoming.envelope
                // `remove` also makes a second copy of the same id within this batch a duplicate.
                guard fresh.remove(envelope.messageID) != nil else {
                    committed.duplicates.append(candidate.incoming)
                    continue
                }
                var messageLogger = logger
                messageLogger[metadataKey: "message_id"] = "\(envelope.messageID)"
                messageLogger[metadataKey: "correlation_id"] = "\(envelope.correlationID)"
                messageLogger[metadataKey: "type"] = "\(envelope.type)"
                let context = HandlerContext(
                    envelope: envelope, attempts: candidate.incoming.attempts, database: database,
                    logger: messageLogger, appID: configuration.appID)
                do {
                    outgoing += try handler.handle(candidate.message, context: context)
                } catch let error as PostgresError where error.isInfrastructureFailure {
                    throw TransactionFailure.infrastructure(error)
                } catch {
                    throw TransactionFailure.handler(index: index, error: error)
                }
                committed.processed.append(candidate.incoming)
            }
            committed.outbox = try Outbox.insert(outgoing, exchange: configuration.topology.exchange, on: database)
            try database.query("commit")
            return committed
        } catch let failure as TransactionFailure {
            rollback(database)
            throw failure
        } catch let error as PostgresError where !error.isInfrastructureFailure && database.isConnected {
            // A statement of the runtime itself failed: not the fault of one message.
            rollback(database)
            throw .infrastructure(error)
        } catch {
            rollback(database)
            throw .infrastructure(error)
        }
    }

    private func rollback(_ database: PostgresConnection) {
        if database.isConnected { _ = try? database.query("rollback") }
    }

    // MARK: - Settling

    /// Publishes the outbox and the retry/dead-letter copies in one confirm window, then
    /// acknowledges the batch with as few acks as possible.
    private func settle(_ committed: Committed, failures: [(IncomingMessage, HandlingFailure)]) {
        var publications = committed.outbox.map(\.publication)
        let outboxCount = publications.count
        for (incoming, failure) in failures {
            publications.append(self.failures.publication(for: incoming, failure))
        }
        // Hold the batch's outbox rows locked while publishing them, so that a relay (of this or
        // another worker copy) skips them instead of publishing them a second time.
        let claimed = claimOutbox(committed.outbox.map(\.id))
        let outcomes: [AMQPConnection.PublishOutcome]
        switch link.publish(publications) {
        case .success(let result): outcomes = result
        case .failure(let error):
            // The outbox rows stay unsent and the relay publishes them. The batch is requeued (a
            // no-op if the connection is gone: the broker requeues then): on redelivery the inbox
            // skips what already took effect and failures are parked again.
            logger.warning("publish failed; requeueing the batch", metadata: ["error": "\(error)"])
            if claimed, let database { rollback(database) }
            let held = committed.processed + committed.duplicates + failures.map(\.0)
            _ = link.acknowledge(ack: [], requeue: held.map(\.deliveryTag), generation: held.first?.generation ?? 0)
            return
        }

        var sent: [Int64] = []
        var unsent: [(Int64, String)] = []
        for (row, outcome) in zip(committed.outbox, outcomes.prefix(outboxCount)) {
            if outcome == .confirmed {
                sent.append(row.id)
            } else {
                unsent.append((row.id, FailureRouter.describe(outcome)))
            }
        }
        var acks = (committed.processed + committed.duplicates).map(\.deliveryTag)
        var requeue: [UInt64] = []
        for ((incoming, failure), outcome) in zip(failures, outcomes.dropFirst(outboxCount)) {
            if outcome == .confirmed {
                acks.append(incoming.deliveryTag)
                self.failures.record(incoming, failure)
            } else {
                // The retry or dead-letter copy did not reach the broker: keep the original.
                logger.error(
                    "could not park a failed message; requeueing it",
                    metadata: [
                        "message_id": "\(incoming.envelope.messageID)", "outcome": "\(FailureRouter.describe(outcome))",
                    ])
                requeue.append(incoming.deliveryTag)
            }
        }
        let generation = (committed.processed + committed.duplicates + failures.map(\.0)).first?.generation ?? 0
        if case .failure(let error) = link.acknowledge(ack: acks, requeue: requeue, generation: generation) {
            logger.warning("ack failed; the broker will redeliver", metadata: ["error": "\(error)"])
        }
        let acked = ContinuousClock.now
        for message in committed.processed {
            metrics.handled(type: message.envelope.type)
            metrics.messageLatency.recordNanoseconds(Int64((acked - message.receivedAt).seconds * 1e9))
        }
        for message in committed.duplicates {
            metrics.duplicate(type: message.envelope.type)
            logger.debug("duplicate skipped", metadata: ["message_id": "\(message.envelope.messageID)"])
        }
        markOutbox(sent: sent, unsent: unsent, claimed: claimed)
    }

    /// Opens a transaction that locks the outbox rows `ids`; returns whether it did.
    private func claimOutbox(_ ids: [Int64]) -> Bool {
        guard let database, !ids.isEmpty else { return false }
        do {
            try database.query("begin")
            try Outbox.lock(ids, on: database)
            return true
        } catch {
            // Without the lock a relay may publish these rows too; downstream inboxes drop the copy.
            logger.warning("could not lock outbox rows", metadata: ["error": "\(error)"])
            rollback(database)
            return false
        }
    }

    // MARK: - Outbox

    /// Marks published rows sent and failed ones with their error, committing the claim
    /// transaction when there is one.
    private func markOutbox(sent: [Int64], unsent: [(Int64, String)], claimed: Bool) {
        guard let database, !sent.isEmpty || !unsent.isEmpty || claimed else { return }
        do {
            try Outbox.markSent(sent, on: database)
            for (id, error) in unsent {
                logger.error(
                    "outbox message not delivered; the relay retries it",
                    metadata: ["outbox_id": "\(id)", "error": "\(error)"])
                try Outbox.markFailed(id, error: error, on: database)
            }
            if claimed { try database.query("commit") }
        } catch {
            if claimed { rollback(database) }
            // The relay republishes unmarked rows; downstream inboxes drop the duplicates.
            logger.warning("could not mark outbox rows", metadata: ["error": "\(error)"])
        }
    }

    /// Deletes inbox rows and sent outbox rows past their retention, a bounded number per run so
    /// that a large backlog is worked off over several runs instead of one long statement.
    private func applyRetention() {
        lastRetention = .now
        guard let database else { return }
        do {
            let inbox = try database.query(
                """
                delete from runtime_inbox where ctid in (
                    select ctid from runtime_inbox where processed_at < now() - make_interval(secs => $1) limit 10000)
                """, [.double(configuration.inboxRetention.seconds)]
            ).affectedRows
            let outbox = try database.query(
                """
                delete from runtime_outbox where id in (
                    select id from runtime_outbox
                    where sent_at is not null and sent_at < now() - make_interval(secs => $1) limit 10000)
                """, [.double(configuration.outboxRetention.seconds)]
            ).affectedRows
            if inbox > 0 { metrics.retentionDeleted(table: "runtime_inbox", count: inbox) }
            if outbox > 0 { metrics.retentionDeleted(table: "runtime_outbox", count: outbox) }
            if inbox + outbox > 0 {
                logger.info("retention removed old rows", metadata: ["inbox": "\(inbox)", "outbox": "\(outbox)"])
            }
        } catch {
            // query(_:_:) throws only PostgresError.
            if error.isInfrastructureFailure {
                rideOutDatabaseOutage(error)
            } else {
                logger.warning("retention failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Publishes outbox rows older than `grace` that no one published: rows left by a crash
    /// between commit and publish, or whose publish failed.
    private func relayOutbox(grace: Duration) {
        lastRelay = .now
        guard let database else { return }
        do {
            while true {
                let published = try database.transaction { tx -> Int in
                    let rows = try Outbox.unsent(olderThan: grace, limit: 256, on: tx)
                    guard !rows.isEmpty else { return 0 }
                    switch link.publish(rows.map(\.publication)) {
                    case .success(let outcomes):
                        var sent: [Int64] = []
                        for (row, outcome) in zip(rows, outcomes) {
                            if outcome == .confirmed {
                                sent.append(row.id)
                            } else {
                                try Outbox.markFailed(row.id, error: FailureRouter.describe(outcome), on: tx)
                            }
                        }
                        try Outbox.markSent(sent, on: tx)
                        metrics.relayed.increment(by: sent.count)
                        if !sent.isEmpty {
                            logger.info("relay published outbox rows", metadata: ["count": "\(sent.count)"])
                        }
                        return rows.count == 256 && sent.count == rows.count ? rows.count : 0
                    case .failure(let error):
                        logger.warning("relay could not publish", metadata: ["error": "\(error)"])
                        return 0
                    }
                }
                if published == 0 { break }
            }
            metrics.outboxBacklog.record(try Outbox.backlog(on: database))
        } catch let error as PostgresError where error.isInfrastructureFailure {
            rideOutDatabaseOutage(error)
        } catch {
            logger.warning("outbox relay failed", metadata: ["error": "\(error)"])
        }
    }
}
