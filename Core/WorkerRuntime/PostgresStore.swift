import AMQP
import CommerceMessages
import CommerceSupport
import CommerceTracing
import Foundation
import Logging
import Postgres
import Tracing

/// The PostgreSQL store of the batch loop: a ``MessageHandler`` applied to a batch in one
/// transaction with the inbox (processed message ids) and the outbox (messages to emit).
///
/// Per batch: the inbox rows of every message in one statement (the ids already there are the
/// duplicates), each handler in correlation-id order (so that worker copies lock rows in the same
/// order and do not deadlock), the outbox rows in one statement, one commit. A handler that
/// throws is taken out and the transaction runs again without it; a deadlock or serialization
/// failure runs it again as it was. When one of the runtime's own statements is refused while the
/// connection is fine, some message's data is at fault: the batch runs again one message per
/// transaction, and the message whose statement is refused fails alone. Only a connection failure
/// is an outage. See docs/architecture.md, "PostgreSQL store".
final class PostgresStore<Handler: MessageHandler>: BatchStore {
    struct Work {
        var message: Handler.Message
        var prepared: Handler.Prepared?
    }

    let kind = "database"
    let configuration: WorkerConfiguration
    let handler: Handler
    let logger: Logger
    let metrics: WorkerMetrics
    /// Writes `message_journal` rows with each batch's transaction (docs/architecture.md, "The message journal").
    let journal: MessageJournal
    /// This consumer's name in `runtime_outbox.owner`: its own unsent rows are its to relay at
    /// any time; another consumer's rows only once that consumer's database session is gone
    /// (its advisory lock is free) and the rows are older than the relay grace.
    private(set) var owner: String
    private(set) var database: PostgresConnection?
    /// When the relay, retention and the handler's periodic work are due (`PostgresStore+Maintenance.swift`).
    var schedule: MaintenanceSchedule
    /// `roundTrips` of the connection when the batch in hand started, for the round-trip metric.
    var roundTripsAtBatchStart: Int?
    /// Whether the handler has a phase outside the transaction.
    private let prepares = Handler.preparesOutsideTransaction

    init(configuration: WorkerConfiguration, handler: Handler, logger: Logger, metrics: WorkerMetrics) {
        self.configuration = configuration
        self.handler = handler
        self.logger = logger
        self.metrics = metrics
        journal = MessageJournal(configuration: configuration)
        owner = Self.newOwner(appID: configuration.appID)
        schedule = MaintenanceSchedule(
            periodicInterval: handler.periodicInterval, relayInterval: configuration.relayInterval,
            retentionInterval: configuration.retentionInterval)
    }

    // MARK: - Connection

    /// `order-worker@host:pid:1a2b3c4d`: unique per consumer and per name change.
    private static func newOwner(appID: String) -> String {
        "\(appID)@\(ProcessInfo.processInfo.hostName):\(getpid()):\(Envelope.newMessageID().prefix(8))"
    }

    func connect() throws {
        let connection = try PostgresConnection(
            url: configuration.databaseURL, applicationName: configuration.appID,
            planning: configuration.statementPlanning, timeouts: configuration.postgresTimeouts)
        try RuntimeSchema.migrate(connection, then: handler.migrate)
        // Held for the session's life: while this consumer is alive, no other relay takes its
        // outbox rows (Outbox.relayable); when its session ends, the lock goes with it. Taken
        // without waiting: if a session of ours that the server still thinks alive (after a
        // network failure) or another owner whose name hashes alike holds it, this consumer
        // takes a new name; its old rows are relayed once that session is gone.
        for _ in 0..<5 {
            let locked = try connection.query(
                "select pg_try_advisory_lock($1, hashtext($2)) as locked", [.int(Outbox.ownerLockSpace), .text(owner)]
            ).rows[0].bool("locked")
            if locked { break }
            logger.warning("outbox owner name in use; taking a new one", metadata: ["owner": "\(owner)"])
            owner = Self.newOwner(appID: configuration.appID)
        }
        database = connection
    }

    func disconnect() {
        database?.close()
        database = nil
        roundTripsAtBatchStart = nil
    }

    private func liveDatabase() throws(StoreOutage) -> PostgresConnection {
        guard let database, database.isConnected else {
            throw StoreOutage(cause: PostgresError(code: .connectionLost, message: "no database connection"))
        }
        return database
    }

    /// An outage only when the connection says so (or the server reports a class that means it
    /// cannot serve anyone: connection, shutdown, resources).
    func isOutage(_ error: any Error) -> Bool {
        if let postgres = error as? PostgresError, postgres.isInfrastructureFailure { return true }
        return !(database?.isConnected ?? false)
    }

    // MARK: - Decoding and preparing

    func work(for incoming: IncomingMessage) throws(HandlingFailure) -> Work {
        do {
            return Work(message: try handler.decode(incoming), prepared: nil)
        } catch {
            var failure = HandlingFailure.classify(error)
            failure.failureClass = .permanent  // a body that does not decode never will
            throw failure
        }
    }

    func prepare(_ batch: inout [PendingMessage<Work>]) -> [Int: HandlingFailure] {
        guard prepares, !batch.isEmpty else { return [:] }
        // What the inbox already holds needs no preparing: it is acknowledged as a duplicate.
        let known = (try? alreadyProcessed(batch.map(\.incoming.envelope.messageID))) ?? []
        let todo = batch.indices.filter { !known.contains(batch[$0].incoming.envelope.messageID) }
        let inputs = todo.map { (batch[$0].work.message, batch[$0].incoming.envelope, batch[$0].incoming.attempts) }
        // One saga's messages are prepared one after another, in delivery order (a cancel must not
        // race the charge it cancels); different sagas' messages run concurrently.
        let results = Preparation.run(
            inputs, concurrency: configuration.prepareConcurrency, metrics: metrics, orderedBy: { $0.1.correlationID }
        ) { [handler] input in
            // The message's trace context (its handle span's, when tracing is on) is the task's
            // context during `prepare`, so that an HTTP call made there continues the trace.
            guard
                let trace = input.1.traceParent.flatMap({
                    TraceContext(traceparent: $0, traceState: input.1.traceState)
                })
            else { return try await handler.prepare(input.0, envelope: input.1, attempts: input.2) }
            return try await ServiceContext.withValue(.holding(trace)) {
                try await handler.prepare(input.0, envelope: input.1, attempts: input.2)
            }
        }
        var failures: [Int: HandlingFailure] = [:]
        for (index, result) in zip(todo, results) {
            switch result {
            case .success(let prepared): batch[index].work.prepared = prepared
            case .failure(let error): failures[index] = HandlingFailure.classify(error)
            }
        }
        return failures
    }

    func probeDependencies() -> Bool {
        let result = Preparation.run([()], concurrency: 1, metrics: nil, orderedBy: { _ in "" }) { [handler] _ in
            try await handler.probeDependencies()
        }
        if case .failure(let error) = result.first {
            logger.info("dependency still unavailable", metadata: ["error": "\(error)"])
            return false
        }
        return true
    }

    private func alreadyProcessed(_ ids: [String]) throws -> Set<String> {
        guard let database else { return [] }
        let rows = try database.query(
            "select message_id from runtime_inbox where consumer = $1 and message_id = any($2::text[])",
            [.text(configuration.consumerName), .textArray(ids)]
        ).rows
        return Set(try rows.map { try $0.string("message_id") })
    }

    // MARK: - Applying

    func apply(_ batch: [PendingMessage<Work>]) throws(StoreOutage) -> AppliedBatch {
        roundTripsAtBatchStart = database?.roundTrips
        // Rows are locked in correlation-id order so that copies of a worker do not deadlock;
        // the sort is stable, so one saga's messages keep their order.
        let order = batch.indices.sorted {
            (batch[$0].incoming.envelope.correlationID, $0) < (batch[$1].incoming.envelope.correlationID, $1)
        }
        var outcomes = [MessageOutcome?](repeating: nil, count: batch.count)
        var outbox: [OutboxRow] = []
        try applyTogether(order, batch, &outcomes, &outbox)
        return AppliedBatch(
            outcomes: outcomes.map { $0 ?? .failed(.transient("not_applied", "not applied")) }, outbox: outbox)
    }

    private enum TransactionFailure: Error {
        /// The handler of the message at this position threw.
        case handler(position: Int, error: any Error)
        /// A statement of the runtime itself (begin, inbox, outbox, commit) failed.
        case runtime(any Error)
    }

    /// Applies `indices` of `batch` in one transaction, taking out messages whose handler fails,
    /// and falling back to one transaction per message when the runtime's own statements fail.
    private func applyTogether(
        _ indices: [Int], _ batch: [PendingMessage<Work>], _ outcomes: inout [MessageOutcome?],
        _ outbox: inout [OutboxRow]
    ) throws(StoreOutage) {
        var remaining = indices
        var conflicts = 0
        while !remaining.isEmpty {
            let database = try liveDatabase()
            do throws(TransactionFailure) {
                let committed = try runTransaction(remaining.map { batch[$0] }, on: database)
                for (index, outcome) in zip(remaining, committed.outcomes) { outcomes[index] = outcome }
                outbox += committed.outbox
                return
            } catch {
                switch error {
                case .handler(let position, let cause):
                    if isOutage(cause) { throw StoreOutage(cause: cause) }
                    if (cause as? PostgresError)?.isRetryableConflict == true, conflicts < 3 {
                        conflicts += 1  // a deadlock or serialization failure: run the same batch again
                        continue
                    }
                    outcomes[remaining[position]] = .failed(HandlingFailure.classify(cause))
                    remaining.remove(at: position)
                case .runtime(let cause):
                    if isOutage(cause) { throw StoreOutage(cause: cause) }
                    if (cause as? PostgresError)?.isRetryableConflict == true, conflicts < 3 {
                        conflicts += 1
                        continue
                    }
                    guard remaining.count > 1 else {
                        outcomes[remaining[0]] = .failed(Self.refused(cause))
                        return
                    }
                    // Some message's data is refused: find it by giving each its own transaction.
                    logger.warning(
                        "a batch statement was refused; applying the batch one message at a time",
                        metadata: ["error": "\(cause)", "batch": "\(remaining.count)"])
                    for index in remaining { try applyTogether([index], batch, &outcomes, &outbox) }
                    return
                }
            }
        }
    }

    /// The failure of a message whose own runtime statements the database refused, the connection
    /// being fine: data it refuses (class 22) or a constraint it breaks (class 23, such as two
    /// outgoing messages with one id) is refused again on every retry, so it is permanent.
    static func refused(_ cause: any Error) -> HandlingFailure {
        let sqlState = (cause as? PostgresError)?.sqlState ?? ""
        let permanent = sqlState.hasPrefix("22") || sqlState.hasPrefix("23")
        return HandlingFailure(
            permanent ? .permanent : .transient, reason: permanent ? "rejected_by_database" : "database_error",
            message: "the database refused to record this message: \(cause)")
    }

    private struct Committed {
        var outcomes: [MessageOutcome] = []
        var outbox: [OutboxRow] = []
    }

    /// One transaction in as few round trips as the handlers allow: `begin` and the inbox rows
    /// in one pipeline; the handlers (their queued writes travel with their next statement); then
    /// the writes still queued, the outbox rows and `commit` in one pipeline.
    private func runTransaction(_ messages: [PendingMessage<Work>], on database: PostgresConnection)
        throws(TransactionFailure) -> Committed
    {
        var committed = Committed()
        var position = -1
        let writes = QueuedWrites()
        do {
            let opened = try database.pipeline([
                PostgresStatement("begin"),
                Inbox.insert(messages.map(\.incoming.envelope.messageID), consumer: configuration.consumerName),
            ])
            var fresh = try Inbox.fresh(opened[1])
            var outgoing: [OutgoingMessage] = []
            var applied: [IncomingMessage] = []
            for (index, message) in messages.enumerated() {
                position = index
                let envelope = message.incoming.envelope
                // `remove` also makes a second copy of the same id within this batch a duplicate.
                let handlerDatabase = HandlerDatabase(connection: database, writes: writes, position: index)
                guard fresh.remove(envelope.messageID) != nil else {
                    // Another delivery of this id committed after this one was prepared: what the
                    // preparation did outside the database is the handler's to record.
                    if prepares, let prepared = message.work.prepared {
                        outgoing += try handler.handleDuplicate(
                            message.work.message, prepared: prepared, context: context(message, handlerDatabase))
                    }
                    committed.outcomes.append(.duplicate)
                    continue
                }
                outgoing += try handle(message, database: handlerDatabase)
                committed.outcomes.append(.applied)
                if journal.isEnabled { applied.append(message.incoming) }
            }
            position = -1
            var closing: [PostgresStatement] = []
            let insert = Outbox.insertStatement(outgoing, exchange: configuration.topology.exchange, owner: owner)
            if let insert { closing.append(insert) }
            // The journal rows travel in the same pipeline as the outbox rows and the commit: no
            // round trip of their own, and they commit (or roll back) with the effects.
            if journal.isEnabled,
                let record = MessageJournal.insertStatement(journal.committed(applied, emitted: outgoing))
            {
                closing.append(record)
            }
            closing.append(PostgresStatement("commit"))
            let results = try writes.flush(with: closing, on: database)
            if insert != nil {
                committed.outbox = try Outbox.rows(
                    inserted: results[0], outgoing, exchange: configuration.topology.exchange)
            }
            return committed
        } catch let failure as QueuedWriteFailure {
            rollback(database)
            throw .handler(position: failure.position, error: failure.error)
        } catch {
            rollback(database)
            throw position >= 0 ? .handler(position: position, error: error) : .runtime(error)
        }
    }

    func rollback(_ database: PostgresConnection) {
        if database.isConnected && database.inTransaction { _ = try? database.query("rollback") }
    }

    private func context(_ message: PendingMessage<Work>, _ database: HandlerDatabase) -> HandlerContext {
        HandlerContext(
            envelope: message.incoming.envelope, attempts: message.incoming.attempts, database: database,
            baseLogger: logger, appID: configuration.appID)
    }

    private func handle(_ message: PendingMessage<Work>, database: HandlerDatabase) throws -> [OutgoingMessage] {
        let context = context(message, database)
        guard let prepared = message.work.prepared ?? (() as? Handler.Prepared) else {
            throw HandlingFailure.transient("not_prepared", "the message was not prepared")
        }
        let emitted = try handler.handle(message.work.message, prepared: prepared, context: context)
        // A handler that caught a failed statement and carried on leaves the transaction aborted:
        // that is its failure, not its neighbours'.
        if database.connection.transactionFailed {
            throw HandlingFailure.transient(
                "handler_swallowed_database_error",
                "the handler returned after a failed statement, which aborted the transaction")
        }
        return emitted
    }

    // MARK: - Journal of failures

    /// Records failed attempts whose retry or dead-letter copy the broker confirmed: one insert,
    /// in a transaction of its own, after the batch is settled. Best effort: the copy in the
    /// retry or dead-letter queue is what counts, so a refused insert is logged and dropped
    /// (and a batch without failures never gets here).
    func journalFailures(_ parked: [(IncomingMessage, HandlingFailure)]) {
        guard journal.isEnabled, let database, database.isConnected,
            let statement = MessageJournal.insertStatement(journal.failures(parked))
        else { return }
        do {
            try database.query(statement.sql, statement.parameters)
        } catch {
            logger.warning(
                "could not journal failed messages", metadata: ["error": "\(error)", "count": "\(parked.count)"])
        }
    }
}
