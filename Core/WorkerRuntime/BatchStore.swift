import AMQP

/// What the one batch loop (``BatchConsumer``) needs from a store: a PostgreSQL database with
/// inbox and outbox (``PostgresStore``), or a MongoDB collection with one document per message
/// (``DocumentStore``). The loop owns stopping, reconnecting, admission, publishing under
/// confirms, acks, retries, dead letters, metrics and logs; a store owns its connection and
/// turns a batch into one outcome per message. A third kind of store is a third conformance,
/// not a third loop. See docs/architecture.md, "The batch loop".
///
/// Every method is called on the consumer's own thread, one at a time.
protocol BatchStore: AnyObject, SendableMetatype {
    /// What the store keeps per message between decoding and applying.
    associatedtype Work

    /// For logs and `/health`: `database`, `document store`.
    var kind: String { get }

    /// Connects and prepares the schema (migrations, indexes). Throws when the store does not answer.
    func connect() throws
    /// Closes the connection; idempotent.
    func disconnect()

    /// Decodes one admitted delivery. Throws a classified ``HandlingFailure``; a body that does
    /// not decode is a permanent failure.
    func work(for incoming: IncomingMessage) throws(HandlingFailure) -> Work

    /// The handler's phase outside any transaction, for the whole batch (it may fill in `batch`'s
    /// work). Returns the failures, by index into `batch`.
    func prepare(_ batch: inout [PendingMessage<Work>]) -> [Int: HandlingFailure]

    /// While the loop is paused for a ``DependencyOutage``: whether the handler's dependencies
    /// answer again (``MessageHandler/probeDependencies()``). Errors are logged by the store.
    func probeDependencies() -> Bool

    /// Applies the batch's effects; one outcome per message, in `batch`'s order. A message the
    /// store refuses fails alone; only an outage of the store itself is thrown.
    func apply(_ batch: [PendingMessage<Work>]) throws(StoreOutage) -> AppliedBatch

    /// Records what became of the batch's outbox rows after the loop published them: `outcomes`
    /// by row, or `nil` when the publish failed as a whole (the rows stay for the relay).
    func finishPublishing(_ outbox: [OutboxRow], outcomes: [AMQPConnection.PublishOutcome]?)

    /// Records in the message journal the failed messages whose retry or dead-letter copy the
    /// broker confirmed, after the batch was settled; best effort (docs/architecture.md, "The message journal").
    func journalFailures(_ parked: [(IncomingMessage, HandlingFailure)])

    /// Periodic work between batches (the outbox relay, retention), publishing through `link`.
    /// With `final`, the last call before the consumer stops: publish what this consumer left.
    func maintain(using link: BrokerLink, final: Bool) throws(StoreOutage)
}

extension BatchStore {
    func prepare(_ batch: inout [PendingMessage<Work>]) -> [Int: HandlingFailure] { [:] }
    func probeDependencies() -> Bool { true }
    func finishPublishing(_ outbox: [OutboxRow], outcomes: [AMQPConnection.PublishOutcome]?) {}
    func maintain(using link: BrokerLink, final: Bool) throws(StoreOutage) {}
}

/// One admitted delivery of a batch and the store's work for it.
struct PendingMessage<Work> {
    let incoming: IncomingMessage
    var work: Work
}

/// What became of one message of a batch.
enum MessageOutcome {
    /// Its effects committed (and its outgoing messages are in ``AppliedBatch/outbox``).
    case applied
    /// The store already held its effect: acknowledged without effect.
    case duplicate
    /// It failed alone; the loop retries or dead-letters it.
    case failed(HandlingFailure)
}

/// The outcome of ``BatchStore/apply(_:)``.
struct AppliedBatch {
    /// One per message, in the order given.
    var outcomes: [MessageOutcome]
    /// Messages committed with the effects, to publish now.
    var outbox: [OutboxRow] = []
}

/// The store, not the messages, is at fault (unreachable, connection lost): the loop stops
/// consuming, requeues what it holds and reconnects.
struct StoreOutage: Error, CustomStringConvertible {
    var cause: any Error
    var description: String { "\(cause)" }
}
