import CommerceMessages
import Foundation
import Mongo
import WorkerRuntime

/// The notification worker's handler: one document in `notifications` per event it is bound to
/// (`order.confirmed`, `order.cancelled`, `order.rejected`, `payment.refunded`).
///
/// The runtime decodes with the contract (the default `decode` for ``AnyMessage``) and sets the
/// document's `_id` to the event's message id, so a redelivered or duplicated event is refused by
/// the `_id` index and acknowledged without a second document (docs/architecture.md, "MongoDB
/// store"). An order has at most one event of each type the worker handles (one terminal event,
/// one refund), so a unique index on (`order_id`, `event_type`) also refuses the same event
/// published again under a new message id (an old event replayed): the customer never gets two
/// "order confirmed" messages. Nothing is emitted.
public struct NotificationDocumentHandler: DocumentHandler {
    public typealias Message = AnyMessage

    /// `notifications`.
    public let collection = NotificationsService.collection

    private let renderer: NotificationRenderer
    private let now: @Sendable () -> Date

    /// Creates the handler; `now` stamps `created_at` (replaceable for tests).
    public init(
        renderer: NotificationRenderer = NotificationRenderer(), now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.renderer = renderer
        self.now = now
    }

    /// The notification document of `message`.
    /// - Throws: a permanent ``HandlingFailure`` (`unexpected_type`) for a type the worker is not
    ///   bound to: a wrong binding is not fixed by retrying.
    public func document(for message: AnyMessage, envelope: Envelope, attempts: Int) throws -> Document {
        guard let notification = renderer.render(message) else {
            throw HandlingFailure.permanent(
                "unexpected_type", "the notification worker does not handle '\(message.messageType.rawValue)'")
        }
        return notification.document(eventMessageID: envelope.messageID, createdAt: now())
    }

    /// Indexes `order_id` (support and the audit look notifications up by it) and makes
    /// (`order_id`, `event_type`) unique: one notification per order and event type. Creating an
    /// index that exists with the same options does nothing, so this runs at every connect.
    public func prepare(_ collection: MongoCollection) throws {
        try collection.createIndex(["order_id": 1])
        try collection.createIndex(["order_id": 1, "event_type": 1], unique: true)
    }
}
