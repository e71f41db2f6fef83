import AMQP
import Foundation
import WorkerRuntime

/// One message of a dead-letter queue, read from its headers (docs/architecture.md, "Failures").
///
/// The runtime's dead letters carry `x-error-*` headers; the broker's own (a quorum queue's
/// delivery limit, an expiry without a retry queue) carry only `x-death`: those get the class
/// `broker` and the reason `broker:<x-death reason>`, except `rejected`: a worker rejects a
/// delivery only when its body is over `consumer.maxBodyBytes` (read without being kept), so that
/// is the class `permanent` and the reason `body_too_large`, as if the runtime had written it.
public struct DeadLetter {
    /// The dead-letter queue it was read from.
    public var queue: String
    public var deliveryTag: UInt64
    public var properties: AMQPProperties
    public var body: [UInt8]
    public var errorClass: String
    public var reason: String
    public var message: String
    public var attempts: Int?
    public var failedAt: Date?
    public var failedBy: String?
    /// The worker queue it failed in: `x-original-queue`, the `x-death` queue, or the DLQ's name minus `.dlq`.
    public var originalQueue: String

    public var messageID: String { properties.messageID ?? "" }
    public var type: String { properties.type ?? "" }

    /// Headers that say where and why a message failed; a replayed copy goes without them, as a fresh message.
    public static let failureHeaders: Set<String> = [
        DeadLetterHeader.errorClass, DeadLetterHeader.errorReason, DeadLetterHeader.errorMessage,
        DeadLetterHeader.attempts, DeadLetterHeader.originalQueue, DeadLetterHeader.originalRoutingKey,
        DeadLetterHeader.failedAt, DeadLetterHeader.failedBy, "x-death", "x-first-death-exchange",
        "x-first-death-queue", "x-first-death-reason", "x-last-death-exchange", "x-last-death-queue",
        "x-last-death-reason", "x-delivery-count",
    ]

    public init(queue: String, deliveryTag: UInt64, properties: AMQPProperties, body: [UInt8]) {
        self.queue = queue
        self.deliveryTag = deliveryTag
        self.properties = properties
        self.body = body
        let headers = properties.headers
        let newestDeath: [String: AMQPFieldValue]? = {
            guard case .array(let deaths)? = headers["x-death"], case .table(let newest)? = deaths.first else {
                return nil
            }
            return newest
        }()
        let fallbackQueue = queue.hasSuffix(".dlq") ? String(queue.dropLast(4)) : queue
        if headers[DeadLetterHeader.errorClass] != nil || headers[DeadLetterHeader.errorReason] != nil {
            errorClass = headers[DeadLetterHeader.errorClass]?.stringValue ?? "unknown"
            reason = headers[DeadLetterHeader.errorReason]?.stringValue ?? "unknown"
            message = headers[DeadLetterHeader.errorMessage]?.stringValue ?? ""
            attempts = headers[DeadLetterHeader.attempts].flatMap(Self.integer)
            failedAt = headers[DeadLetterHeader.failedAt]?.stringValue.flatMap(Self.parseDate)
            failedBy = headers[DeadLetterHeader.failedBy]?.stringValue
            originalQueue = headers[DeadLetterHeader.originalQueue]?.stringValue ?? fallbackQueue
        } else if let death = newestDeath {
            let brokerReason = death["reason"]?.stringValue ?? "unknown"
            let from = death["queue"]?.stringValue ?? fallbackQueue
            if brokerReason == "rejected" {
                errorClass = "permanent"
                reason = "body_too_large"
                message =
                    "a worker of '\(from)' refused it unread: the body has \(body.count) bytes, "
                    + "over its consumer.maxBodyBytes; the broker dead-lettered it"
            } else {
                errorClass = "broker"
                reason = "broker:\(brokerReason)"
                message = "dead-lettered by the broker (\(brokerReason)) from '\(from)'"
            }
            attempts = death["count"].flatMap(Self.integer)
            if case .timestamp(let seconds)? = death["time"] {
                failedAt = Date(timeIntervalSince1970: TimeInterval(seconds))
            }
            failedBy = "broker"
            originalQueue = from
        } else {
            errorClass = "unknown"
            reason = "unknown"
            message = "no dead-letter headers"
            originalQueue = fallbackQueue
        }
        if failedAt == nil, let seconds = properties.timestamp {
            failedAt = Date(timeIntervalSince1970: TimeInterval(seconds))
        }
    }

    /// The copy that goes back to ``originalQueue``: same properties and message id, without the
    /// failure headers (so its attempts start again from zero), with `body` if given.
    public func replayCopy(body replacement: [UInt8]? = nil) -> (properties: AMQPProperties, body: [UInt8]) {
        var copy = properties
        for name in Self.failureHeaders { copy.headers.removeValue(forKey: name) }
        // The dead letter's own expiry has passed long ago; a copy must not expire on arrival.
        copy.expiration = nil
        return (copy, replacement ?? body)
    }

    private static func integer(_ value: AMQPFieldValue) -> Int? {
        switch value {
        case .int(let number): Int(number)
        case .string(let text): Int(text)
        default: nil
        }
    }

    public static func parseDate(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
