import AMQP
import CommerceMessages
import Foundation

/// A delivery as the runtime hands it to a handler: the contract's ``Envelope``, the raw body and
/// what the runtime knows about earlier attempts.
public struct IncomingMessage: Sendable {
    public var envelope: Envelope
    public var body: [UInt8]
    /// Failed attempts before this one (0 on first delivery), from the `x-attempts` header.
    public var attempts: Int
    /// The routing key the message was first published with (its type, for contract messages).
    public var originalRoutingKey: String
    /// Whether the broker flagged this as a redelivery.
    public var redelivered: Bool
    /// All AMQP headers, for handlers that need more than the envelope.
    public var headers: AMQPTable

    /// Runtime bookkeeping: the delivery this came from.
    let deliveryTag: UInt64
    let generation: UInt64
    let properties: AMQPProperties
    let routingKey: String
    /// When the I/O thread read the delivery, for the handling-latency histogram.
    let receivedAt = ContinuousClock.now

    /// Reads the envelope from AMQP properties and headers, or explains why it cannot.
    init(delivery: AMQPDelivery, generation: UInt64) {
        let properties = delivery.properties
        let headers = properties.headers
        let originalRoutingKey = headers[DeadLetterHeader.originalRoutingKey]?.stringValue ?? delivery.routingKey
        envelope = Envelope(
            messageID: properties.messageID ?? "",
            correlationID: properties.correlationID ?? "",
            causationID: headers["causation_id"]?.stringValue,
            type: properties.type ?? originalRoutingKey,
            timestamp: Date(timeIntervalSince1970: TimeInterval(properties.timestamp ?? 0)),
            appID: properties.appID ?? "",
            contentType: properties.contentType ?? "")
        body = delivery.body
        attempts = Int(headers[DeadLetterHeader.attempts]?.intValue ?? 0)
        self.originalRoutingKey = originalRoutingKey
        redelivered = delivery.redelivered
        self.headers = headers
        deliveryTag = delivery.deliveryTag
        self.generation = generation
        self.properties = properties
        routingKey = delivery.routingKey
    }

    /// Checks what every message must satisfy before a handler sees it (DESIGN.md §4, §6).
    func admissionFailure(maximumBodySize: Int) -> HandlingFailure? {
        if body.isEmpty { return .permanent("empty_body", "the message body is empty") }
        if body.count > maximumBodySize {
            return .permanent("body_too_large", "the body has \(body.count) bytes; the limit is \(maximumBodySize)")
        }
        if envelope.contentType != "application/json" {
            let shown = envelope.contentType.isEmpty ? "none" : "'\(envelope.contentType)'"
            return .permanent("wrong_content_type", "content_type is \(shown); expected 'application/json'")
        }
        if envelope.messageID.isEmpty {
            return .permanent("missing_message_id", "the message has no message_id property")
        }
        return nil
    }
}
