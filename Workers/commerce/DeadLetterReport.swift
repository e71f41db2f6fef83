import CommandLineSupport
import FleetOperations
import Foundation

/// One dead letter as JSON, in `list` and `show`.
struct DeadLetterReport: Encodable {
    var queue: String
    var originalQueue: String
    var messageId: String
    var type: String
    var errorClass: String
    var reason: String
    var message: String
    var attempts: Int?
    var failedAt: String?
    var failedAgo: String
    var failedBy: String?

    init(_ letter: DeadLetter, now: Date) {
        queue = letter.queue
        originalQueue = letter.originalQueue
        messageId = letter.messageID
        type = letter.type
        errorClass = letter.errorClass
        reason = letter.reason
        message = letter.message
        attempts = letter.attempts
        failedAt = RelativeTime.iso8601(letter.failedAt)
        failedAgo = RelativeTime.describe(letter.failedAt, now: now)
        failedBy = letter.failedBy
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(queue, forKey: .queue)
        try container.encode(originalQueue, forKey: .originalQueue)
        try container.encode(messageId, forKey: .messageId)
        try container.encode(type, forKey: .type)
        try container.encode(errorClass, forKey: .errorClass)
        try container.encode(reason, forKey: .reason)
        try container.encode(message, forKey: .message)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(failedAt, forKey: .failedAt)
        try container.encode(failedAgo, forKey: .failedAgo)
        try container.encode(failedBy, forKey: .failedBy)
    }

    private enum CodingKeys: String, CodingKey {
        case queue, originalQueue, messageId, type, errorClass, reason, message, attempts, failedAt, failedAgo, failedBy
    }
}
