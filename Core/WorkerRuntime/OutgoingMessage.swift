import AMQP
import CommerceMessages

/// A message a handler emits. It is written to the outbox in the handler's transaction and
/// published to the topic exchange with publisher confirms after the commit.
public struct OutgoingMessage: Sendable, Hashable {
    public var envelope: Envelope
    /// UTF-8 JSON.
    public var body: [UInt8]

    public init(envelope: Envelope, body: [UInt8]) {
        self.envelope = envelope
        self.body = body
    }

    /// A contract message caused by `cause`: same correlation id, a new message id, the cause's
    /// message id as causation id.
    public init(_ message: some ContractMessage, causedBy cause: Envelope, appID: String) {
        envelope = cause.reply(type: type(of: message).messageType.rawValue, appID: appID)
        body = message.encodedBody()
    }

    /// The routing key: the message type.
    public var routingKey: String { envelope.type }

    /// The AMQP properties of the contract (README.md, "The message contract").
    var properties: AMQPProperties {
        var headers: AMQPTable = [:]
        if let causation = envelope.causationID { headers["causation_id"] = .string(causation) }
        if let trace = envelope.traceParent { headers["traceparent"] = .string(trace) }
        if let state = envelope.traceState { headers["tracestate"] = .string(state) }
        return AMQPProperties(
            contentType: envelope.contentType, headers: headers, deliveryMode: 2,
            correlationID: envelope.correlationID, messageID: envelope.messageID,
            timestamp: UInt64(max(0, envelope.timestamp.timeIntervalSince1970)), type: envelope.type,
            appID: envelope.appID)
    }
}
