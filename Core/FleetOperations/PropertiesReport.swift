import AMQP
import Foundation

/// The properties of a dead letter as a report shows them (absent ones left out of the JSON).
public struct PropertiesReport: Encodable, Sendable {
    public var contentType: String?
    public var contentEncoding: String?
    public var deliveryMode: UInt8?
    public var priority: UInt8?
    public var correlationId: String?
    public var replyTo: String?
    public var expiration: String?
    public var messageId: String?
    public var timestamp: String?
    public var type: String?
    public var userId: String?
    public var appId: String?

    public init(_ properties: AMQPProperties) {
        contentType = properties.contentType
        contentEncoding = properties.contentEncoding
        deliveryMode = properties.deliveryMode
        priority = properties.priority
        correlationId = properties.correlationID
        replyTo = properties.replyTo
        expiration = properties.expiration
        messageId = properties.messageID
        timestamp = properties.timestamp.map { Date(timeIntervalSince1970: TimeInterval($0)).formatted(.iso8601) }
        type = properties.type
        userId = properties.userID
        appId = properties.appID
    }

    /// (name, value) of the properties that are set, for text output.
    public var lines: [(String, String)] {
        let all: [(String, String?)] = [
            ("content_type", contentType), ("content_encoding", contentEncoding),
            ("delivery_mode", deliveryMode.map { "\($0)" }), ("priority", priority.map { "\($0)" }),
            ("correlation_id", correlationId), ("reply_to", replyTo), ("expiration", expiration),
            ("message_id", messageId), ("timestamp", timestamp), ("type", type), ("user_id", userId),
            ("app_id", appId),
        ]
        return all.compactMap { name, value in value.map { (name, BodyText.escaped(Array($0.utf8))) } }
    }
}
