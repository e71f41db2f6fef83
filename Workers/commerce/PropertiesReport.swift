import AMQP
import FleetOperations
import Foundation

/// The properties of a dead letter as JSON (absent ones left out).
struct PropertiesReport: Encodable {
    var contentType: String?
    var contentEncoding: String?
    var deliveryMode: UInt8?
    var priority: UInt8?
    var correlationId: String?
    var replyTo: String?
    var expiration: String?
    var messageId: String?
    var timestamp: String?
    var type: String?
    var userId: String?
    var appId: String?

    init(_ properties: AMQPProperties) {
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
    var lines: [(String, String)] {
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
