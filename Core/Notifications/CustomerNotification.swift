import CommerceDomain
import CommerceMessages
import Foundation
import Mongo

/// One rendered customer notification: what ``NotificationRenderer`` makes of an event and what
/// ``NotificationDocumentHandler`` stores. Named so as not to clash with Foundation's
/// `Notification`.
public struct CustomerNotification: Sendable, Hashable {
    /// The order the event is about.
    public var orderID: String
    /// The event that caused it.
    public var eventType: MessageType
    /// How it is delivered; ``NotificationChannel/none`` when there is no recipient.
    public var channel: NotificationChannel
    /// The customer's email address; `nil` when the event names no customer.
    public var recipient: String?
    /// The subject line, in English.
    public var subject: String
    /// The text, in English, amounts formatted for people.
    public var body: String
    /// The amount the notification is about, minor units (the total, or the refund); `nil` when
    /// the event has none (a rejected order that could not be priced).
    public var amount: Int?
    /// The ISO 4217 code of ``amount``; `nil` only for a rejected order whose command's currency
    /// was unreadable.
    public var currency: String?
    /// Why the order was cancelled or rejected, or the refund made; `nil` for a confirmation.
    public var reason: OrderOutcomeReason?

    /// Creates a notification.
    public init(
        orderID: String, eventType: MessageType, channel: NotificationChannel, recipient: String?, subject: String,
        body: String, amount: Int?, currency: String?, reason: OrderOutcomeReason?
    ) {
        self.orderID = orderID
        self.eventType = eventType
        self.channel = channel
        self.recipient = recipient
        self.subject = subject
        self.body = body
        self.amount = amount
        self.currency = currency
        self.reason = reason
    }

    /// The stored form (collection `notifications`), without `_id`: the runtime sets it to the
    /// event's message id, which is what makes a redelivered event a duplicate.
    ///
    /// `recipient`, `amount` and `currency` are always present (`null` when unknown) so that every document
    /// has the same shape; `reason` is present only when there is one.
    public func document(eventMessageID: String, createdAt: Date) -> Document {
        var document: Document = [
            "order_id": .string(orderID),
            "event_type": .string(eventType.rawValue),
            "channel": .string(channel.rawValue),
            "recipient": recipient.map(BSONValue.string) ?? .null,
            "subject": .string(subject),
            "body": .string(body),
            "amount": amount.map { .int64(Int64($0)) } ?? .null,
            "currency": currency.map(BSONValue.string) ?? .null,
        ]
        if let reason { document["reason"] = .string(reason.rawValue) }
        document["created_at"] = .date(createdAt)
        document["event_message_id"] = .string(eventMessageID)
        return document
    }
}
