import CommerceMessages
import Logging
import Postgres

/// A worker's business logic for the messages of one queue.
///
/// The runtime calls ``decode(_:)`` and then ``handle(_:context:)`` on its processing thread,
/// inside the PostgreSQL transaction that also records the inbound message id (the inbox) and
/// the returned messages (the outbox). Everything the handler writes through
/// ``HandlerContext/database`` commits or rolls back with them, which is what makes the effect
/// exactly-once over at-least-once delivery. A handler must not publish anything itself and must
/// not commit: it returns what it wants to emit.
///
/// Several messages share one transaction (natural batching); if one handler throws, the
/// transaction is rolled back and the batch runs again without that message, so a handler may
/// run more than once for the same message before its effects commit: keep it free of side
/// effects outside the database (a payment gateway call is made idempotent by a key).
public protocol MessageHandler: Sendable {
    /// The decoded form of the messages this handler accepts.
    associatedtype Message: Sendable

    /// Turns the body into a message. Throw a permanent ``HandlingFailure`` for anything
    /// malformed; the runtime dead-letters it with the reason.
    func decode(_ message: IncomingMessage) throws -> Message

    /// Applies the message's effects through `context.database` and returns the messages to emit.
    /// Throw a ``HandlingFailure`` (or a ``ClassifiedError``) to say whether to retry.
    func handle(_ message: Message, context: HandlerContext) throws -> [OutgoingMessage]

    /// Creates or upgrades the handler's own tables. Called at start-up and after every database
    /// reconnect, after the runtime's inbox and outbox; must be idempotent.
    func migrate(_ database: PostgresConnection) throws
}

extension MessageHandler {
    /// No tables of its own.
    public func migrate(_ database: PostgresConnection) throws {}
}

/// What a handler gets besides its message.
public struct HandlerContext {
    /// The message's envelope (ids, type, timestamp).
    public let envelope: Envelope
    /// Failed attempts before this one.
    public let attempts: Int
    /// The worker's database connection, inside the batch's transaction. Do not commit or roll back.
    public let database: PostgresConnection
    /// Carries `message_id`, `correlation_id` and `queue` metadata.
    public let logger: Logger
    /// The emitting application name for ``OutgoingMessage`` (`order-worker`).
    public let appID: String

    /// An outgoing contract message caused by the message being handled.
    public func emit(_ message: some ContractMessage) -> OutgoingMessage {
        OutgoingMessage(message, causedBy: envelope, appID: appID)
    }
}
