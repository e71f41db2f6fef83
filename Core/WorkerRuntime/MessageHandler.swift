import CommerceMessages
import Logging
import Postgres

/// A worker's business logic for the messages of one queue, over the worker's PostgreSQL database.
///
/// For each batch the runtime calls, on the consumer's thread:
/// 1. ``decode(_:)`` for each delivery (for contract messages, `Message == AnyMessage`, the
///    runtime's own contract decoding is the default);
/// 2. ``prepare(_:envelope:attempts:)`` for each decoded message, concurrently and outside any
///    transaction: the place for a call to another service (a card processor). Its result is kept
///    for the message, so it runs once per delivery, however often the transaction runs again;
/// 3. ``handle(_:prepared:context:)`` for each message, inside the one PostgreSQL transaction
///    that also records the inbound message ids (the inbox) and the returned messages (the
///    outbox). Everything written through ``HandlerContext/database`` commits or rolls back with
///    them: that is what makes the effect exactly-once over at-least-once delivery.
///
/// A handler never publishes and cannot commit: it returns what it wants to emit. If one handler
/// call throws, the transaction is rolled back and runs again without that message, so
/// ``handle(_:prepared:context:)`` may run more than once for a message before its effects
/// commit. See docs/architecture.md, "Handlers".
public protocol MessageHandler: Sendable {
    /// The decoded form of the messages this handler accepts.
    associatedtype Message: Sendable
    /// What ``prepare(_:envelope:attempts:)`` hands to ``handle(_:prepared:context:)``.
    associatedtype Prepared: Sendable = Void

    /// Turns the body into a message. Throw a permanent ``HandlingFailure`` (or a
    /// `ContractError`) for anything malformed; the runtime dead-letters it with the reason.
    func decode(_ message: IncomingMessage) throws -> Message

    /// Work done before the batch's transaction, for each message: concurrently across sagas (at
    /// most `consumer.prepareConcurrency` at once), one after another in delivery order within one
    /// saga (messages with the same correlation id), so a cancel never races what it cancels. Throwing fails this message alone, classified as
    /// for ``handle(_:prepared:context:)``. The phase runs only for handlers whose `Prepared` is
    /// not `Void`, and skips messages that the inbox already holds (they are duplicates).
    func prepare(_ message: Message, envelope: Envelope, attempts: Int) async throws -> Prepared

    /// Whether the handler has a phase outside the transaction: `false` for a handler whose
    /// `Prepared` is `Void` (the default), `true` otherwise. The runtime skips the phase, and the
    /// inbox lookup that goes with it, for a handler without one; implement it only to say so
    /// explicitly.
    static var preparesOutsideTransaction: Bool { get }

    /// Applies the message's effects through `context.database` and returns the messages to emit.
    /// Throw a ``HandlingFailure`` (or a ``ClassifiedError``) to say whether to retry.
    func handle(_ message: Message, prepared: Prepared, context: HandlerContext) throws -> [OutgoingMessage]

    /// Called instead of ``handle(_:prepared:context:)`` for a message that was prepared but
    /// turned out, inside the transaction, to be a duplicate: another delivery of the same message
    /// id (a redelivery on another copy, an outbox republish) committed first, after this one's
    /// ``prepare(_:envelope:attempts:)`` had already run. Whatever that `prepare` did outside the
    /// database (a card captured) happened, and this is the handler's one chance to record it;
    /// the message's own effects are not applied again. Runs in the batch's transaction like
    /// `handle`, and may return messages to emit. The default does nothing: most `prepare`s only
    /// read. See docs/architecture.md, "Handlers".
    func handleDuplicate(_ message: Message, prepared: Prepared, context: HandlerContext) throws
        -> [OutgoingMessage]

    /// Called while the worker is paused for a ``DependencyOutage`` thrown by ``prepare(_:envelope:attempts:)``,
    /// every few seconds with backoff, outside any transaction: returns when the dependencies
    /// answer again (the worker then consumes again), throws while they do not. The default
    /// returns at once.
    func probeDependencies() async throws

    /// How often ``periodic(context:)`` runs; `nil` (the default) for never.
    var periodicInterval: Duration? { get }

    /// Work on the handler's own schedule, such as a deadline sweeper: runs on the consumer's
    /// thread between batches, about every ``periodicInterval``, in a transaction of its own; the
    /// messages it returns are written to the outbox in that transaction and published right
    /// after. Several worker copies run it concurrently: lock rows with `for update skip locked`.
    func periodic(context: PeriodicContext) throws -> [OutgoingMessage]

    /// Creates or upgrades the handler's own tables. Called at start-up and after every database
    /// reconnect, after the runtime's inbox and outbox, in one transaction under the runtime's
    /// migration lock; must be idempotent.
    func migrate(_ database: PostgresConnection) throws
}

extension MessageHandler {
    /// A handler that declares a `Prepared` type has a phase outside the transaction.
    public static var preparesOutsideTransaction: Bool { true }

    /// No dependency outside the database to wait for.
    public func probeDependencies() async throws {}

    /// No tables of its own.
    public func migrate(_ database: PostgresConnection) throws {}

    /// A duplicate's preparation had no effect to record.
    public func handleDuplicate(_ message: Message, prepared: Prepared, context: HandlerContext) throws
        -> [OutgoingMessage]
    { [] }

    /// No periodic work.
    public var periodicInterval: Duration? { nil }

    public func periodic(context: PeriodicContext) throws -> [OutgoingMessage] { [] }
}

/// What ``MessageHandler/periodic(context:)`` gets.
public struct PeriodicContext {
    /// The worker's database, inside the periodic transaction; it refuses to commit or roll back.
    public let database: HandlerDatabase
    public let logger: Logger
    /// The emitting application name for ``OutgoingMessage`` (`order-worker`).
    public let appID: String
}

extension MessageHandler where Prepared == Void {
    /// No phase outside the transaction: nothing to prepare.
    public static var preparesOutsideTransaction: Bool { false }

    /// No phase outside the transaction.
    public func prepare(_ message: Message, envelope: Envelope, attempts: Int) async throws {}
}

extension MessageHandler where Message == AnyMessage {
    /// The contract's decoding: the envelope's content type, the type, the body's schema and
    /// `correlation_id` = `order_id`. Every failure is a permanent `ContractError`.
    public func decode(_ message: IncomingMessage) throws -> AnyMessage {
        try AnyMessage.decode(envelope: message.envelope, body: message.body)
    }
}

/// What a handler gets besides its message.
public struct HandlerContext {
    /// The message's envelope (ids, type, timestamp).
    public let envelope: Envelope
    /// Failed attempts before this one.
    public let attempts: Int
    /// The worker's database, inside the batch's transaction; it refuses to commit or roll back.
    public let database: HandlerDatabase
    /// The worker's logger with the message's `message_id`, `correlation_id` and `type` as
    /// metadata (made when asked for: setting metadata costs, and most handlers log rarely).
    public var logger: Logger {
        var logger = baseLogger
        logger[metadataKey: "message_id"] = "\(envelope.messageID)"
        logger[metadataKey: "correlation_id"] = "\(envelope.correlationID)"
        logger[metadataKey: "type"] = "\(envelope.type)"
        return logger
    }
    let baseLogger: Logger
    /// The emitting application name for ``OutgoingMessage`` (`order-worker`).
    public let appID: String

    /// An outgoing contract message caused by the message being handled.
    public func emit(_ message: some ContractMessage) -> OutgoingMessage {
        OutgoingMessage(message, causedBy: envelope, appID: appID)
    }
}
