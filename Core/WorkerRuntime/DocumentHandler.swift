import CommerceMessages
import Mongo

/// A worker whose effect is one MongoDB document per message (the notification worker), with no
/// outgoing messages.
///
/// Exactly-once effect comes from the store itself: the runtime sets each document's `_id` to
/// the inbound `message_id`, so a redelivered or duplicated message is refused by the unique
/// `_id` index (error 11000) and acknowledged as already done. A batch of deliveries is written
/// with one unordered `insertMany`, so one bad document never fails its neighbours.
public protocol DocumentHandler: Sendable {
    associatedtype Message: Sendable

    /// The collection the documents go to.
    var collection: String { get }

    /// Turns the body into a message; throw a permanent ``HandlingFailure`` for anything malformed.
    func decode(_ message: IncomingMessage) throws -> Message

    /// The document that records the message's effect (without `_id`: the runtime sets it).
    func document(for message: Message, envelope: Envelope, attempts: Int) throws -> Document

    /// Creates indexes; called at start-up and after every reconnect, so it must be idempotent.
    func prepare(_ collection: MongoCollection) throws
}

extension DocumentHandler {
    /// No indexes beyond `_id`.
    public func prepare(_ collection: MongoCollection) throws {}
}

extension DocumentHandler where Message == AnyMessage {
    /// The contract's decoding (see ``MessageHandler/decode(_:)``).
    public func decode(_ message: IncomingMessage) throws -> AnyMessage {
        try AnyMessage.decode(envelope: message.envelope, body: message.body)
    }
}
