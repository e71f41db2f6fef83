import AMQP
import CommerceTracing
import Logging
import Postgres
import Tracing

// The PostgreSQL store's work outside a batch's transaction: recording what became of a batch's
// outbox rows, the handler's periodic work, the outbox relay and retention. What each step decides
// (which rows to delete, whether to relay another page, when each task is due) is a pure plan:
// ``OutboxPublishPlan`` and ``MaintenanceSchedule``; this file carries the plans out
// (docs/architecture.md, "PostgreSQL store").
extension PostgresStore {
    // MARK: - Outbox

    /// Deletes the published rows (and notes the failure of the others) in one round trip,
    /// committed without waiting for the WAL flush (`synchronous_commit = off`): if the server
    /// crashes before the flush, the rows count as unsent and are published again, which
    /// downstream inboxes absorb. The batch's own transaction, holding the effects, always waits
    /// for its flush.
    func finishPublishing(_ outbox: [OutboxRow], outcomes: [AMQPConnection.PublishOutcome]?) {
        guard let database else { return }
        defer {
            if let start = roundTripsAtBatchStart { metrics.batchRoundTrips.record(database.roundTrips - start) }
            roundTripsAtBatchStart = nil
        }
        guard !outbox.isEmpty, let outcomes else { return }
        let plan = OutboxPublishPlan(ids: outbox.map(\.id), outcomes: outcomes)
        var statements = [PostgresStatement("begin"), PostgresStatement("set local synchronous_commit to off")]
        for failure in plan.markFailed {
            logger.error(
                "outbox message not delivered; the relay retries it",
                metadata: ["outbox_id": "\(failure.id)", "error": "\(failure.error)"])
        }
        let marking = plan.markFailed.isEmpty ? nil : statements.count
        if !plan.markFailed.isEmpty { statements.append(Outbox.markFailed(plan.markFailed, retry: outboxRetry)) }
        if !plan.delete.isEmpty { statements.append(Outbox.remove(plan.delete)) }
        statements.append(PostgresStatement("commit"))
        do {
            let results = try database.pipeline(statements)
            if let marking { reportParked(try Outbox.parkedRows(results[marking])) }
        } catch {
            rollback(database)
            // The relay republishes unmarked rows; downstream inboxes drop the duplicates.
            logger.warning("could not mark outbox rows", metadata: ["error": "\(error)"])
        }
    }

    // MARK: - Maintenance

    func maintain(using link: BrokerLink, final: Bool) throws(StoreOutage) {
        guard database != nil else { return }
        do {
            var periodicEmitted = false
            if schedule.periodicDue(at: .now, final: final) {
                periodicEmitted = try runPeriodic()
            }
            if schedule.relayDue(at: .now, final: final, periodicEmitted: periodicEmitted) {
                try relayOutbox(using: link)
            }
            if schedule.retentionDue(at: .now, final: final) {
                try applyRetention()
            }
        } catch {
            if isOutage(error) { throw StoreOutage(cause: error) }
            logger.warning("outbox relay or retention failed", metadata: ["error": "\(error)"])
        }
    }

    /// With tracing on, what periodic work emits (a refund owed, a saga deadline's cancellation)
    /// is caused by no message, so it starts a trace of its own: one span for the run that
    /// emitted it, the parent of every message it emitted (docs/operations.md, "Tracing").
    private func tracePeriodic(_ outgoing: inout [OutgoingMessage]) -> CommerceSpan? {
        guard let tracer = configuration.tracer, !outgoing.isEmpty else { return nil }
        let span = tracer.startSpan("periodic \(configuration.topology.queue)", parent: nil, kind: .internal)
        span.attributes["messaging.batch.message_count"] = outgoing.count
        for index in outgoing.indices where outgoing[index].envelope.traceParent == nil {
            outgoing[index].envelope.traceParent = span.trace.traceparent
            outgoing[index].envelope.traceState = span.trace.traceState
        }
        return span
    }

    /// Runs the handler's periodic work in a transaction with its outbox rows; returns whether it
    /// emitted anything (the relay then publishes it at once: the rows are this consumer's own).
    func runPeriodic() throws -> Bool {
        schedule.ran(.periodic, at: .now)
        guard let database else { return false }
        let writes = QueuedWrites()
        do {
            try database.query("begin")
            let context = PeriodicContext(
                database: HandlerDatabase(connection: database, writes: writes, position: 0), logger: logger,
                appID: configuration.appID)
            var outgoing = try handler.periodic(context: context)
            let span = tracePeriodic(&outgoing)
            defer { span?.end() }
            var closing: [PostgresStatement] = []
            if let insert = Outbox.insertStatement(outgoing, exchange: configuration.topology.exchange, owner: owner) {
                closing.append(insert)
            }
            if journal.isEnabled, let record = MessageJournal.insertStatement(journal.committed([], emitted: outgoing))
            {
                closing.append(record)
            }
            closing.append(PostgresStatement("commit"))
            _ = try writes.flush(with: closing, on: database)
            if !outgoing.isEmpty {
                logger.info("periodic work emitted messages", metadata: ["count": "\(outgoing.count)"])
            }
            return !outgoing.isEmpty
        } catch let failure as QueuedWriteFailure {
            rollback(database)
            throw failure.error
        } catch {
            rollback(database)
            throw error
        }
    }

    /// Publishes unsent outbox rows that are this consumer's own (left by a failed publish), or
    /// those of a consumer that is gone, older than the grace (left by a crash between commit and
    /// publish).
    private func relayOutbox(using link: BrokerLink) throws {
        schedule.ran(.relay, at: .now)
        guard let database else { return }
        // Under a resource alarm a page would only wait out the publish timeout, holding up the
        // batches (whose acks still flow); the next run after the alarm takes it.
        if link.isPublishingBlocked {
            logger.debug("relay skipped: the broker blocks publishing")
            return
        }
        let limit = 256
        var parked: [Outbox.ParkedRow] = []
        while true {
            let full = try database.transaction { tx -> Bool in
                let rows = try Outbox.relayable(owner: owner, grace: configuration.relayGrace, limit: limit, on: tx)
                guard !rows.isEmpty else { return false }
                switch link.publish(rows.map(\.publication)) {
                case .success(let outcomes):
                    let plan = OutboxPublishPlan(ids: rows.map(\.id), outcomes: outcomes)
                    if !plan.markFailed.isEmpty {
                        let failed = Outbox.markFailed(plan.markFailed, retry: outboxRetry)
                        parked += try Outbox.parkedRows(tx.query(failed.sql, failed.parameters))
                        logger.warning(
                            "relay could not deliver outbox rows; each waits out its backoff",
                            metadata: [
                                "count": "\(plan.markFailed.count)", "first_error": "\(plan.markFailed[0].error)",
                            ])
                    }
                    if !plan.delete.isEmpty {
                        let removed = Outbox.remove(plan.delete)
                        try tx.query(removed.sql, removed.parameters)
                    }
                    metrics.relayed.increment(by: plan.delete.count)
                    if !plan.delete.isEmpty {
                        logger.info("relay published outbox rows", metadata: ["count": "\(plan.delete.count)"])
                    }
                    return OutboxPublishPlan.relayContinues(taken: rows.count, limit: limit, published: true)
                case .failure(let error):
                    logger.warning("relay could not publish", metadata: ["error": "\(error)"])
                    return false
                }
            }
            // Reported once committed: a rolled-back page parked nothing.
            reportParked(parked)
            parked = []
            if !full { break }
        }
        let backlog = try Outbox.backlog(on: database)
        metrics.outboxBacklog.record(backlog.rows)
        metrics.outboxParkedRows.record(backlog.parked)
    }

    /// The relay's backoff and parking rules, from the configuration.
    var outboxRetry: OutboxRetry {
        OutboxRetry(
            base: configuration.relayInterval, maximum: configuration.outboxRetryMaxDelay,
            parkAfter: configuration.outboxParkAfterAttempts)
    }

    /// Logs and counts rows the relay gave up on.
    private func reportParked(_ rows: [Outbox.ParkedRow]) {
        guard !rows.isEmpty else { return }
        metrics.outboxParked.increment(by: rows.count)
        for row in rows {
            logger.error(
                "outbox row parked: the relay stops publishing it until an operator retries it (commerce outbox)",
                metadata: [
                    "outbox_id": "\(row.id)", "message_id": "\(row.messageID)", "routing_key": "\(row.routingKey)",
                    "attempts": "\(row.attempts)",
                ])
        }
    }

    /// Deletes inbox rows past their retention, a bounded number per run so that a large backlog
    /// is worked off over several runs instead of one long statement.
    private func applyRetention() throws {
        schedule.ran(.retention, at: .now)
        guard let database else { return }
        let inbox = try Inbox.deleteOlder(than: configuration.inboxRetention, limit: 10_000, on: database)
        if inbox > 0 {
            metrics.retentionDeleted(table: "runtime_inbox", count: inbox)
            logger.info("retention removed old inbox rows", metadata: ["inbox": "\(inbox)"])
        }
        // Rows of a journal turned off are still removed once past their retention.
        let journalRows = try MessageJournal.deleteOlder(
            than: configuration.journalRetention, limit: 10_000, on: database)
        if journalRows > 0 {
            metrics.retentionDeleted(table: "message_journal", count: journalRows)
            logger.info("retention removed old journal rows", metadata: ["journal": "\(journalRows)"])
        }
    }
}
