import Foundation

/// One dead letter as the operator's reports show it (`commerce dlq list` and `show`, and a
/// console): its failure, with the time it failed both as a timestamp and relative to `now`.
public struct DeadLetterReport: Encodable, Sendable {
    public var queue: String
    public var originalQueue: String
    public var messageId: String
    public var type: String
    public var errorClass: String
    public var reason: String
    public var message: String
    public var attempts: Int?
    public var failedAt: String?
    public var failedAgo: String
    public var failedBy: String?

    public init(_ letter: DeadLetter, now: Date) {
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

    /// Every key is written, an unknown value as `null`, so that a reader finds the same keys in
    /// every letter.
    public func encode(to encoder: any Encoder) throws {
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

/// A dead letter's body as a report carries it: UTF-8 text when it is valid UTF-8, else base64,
/// and which of the two it is (`utf8`, `base64`).
public struct ReportedBody: Sendable, Equatable {
    public var text: String
    public var encoding: String

    public init(_ body: [UInt8]) {
        if let text = String(validating: body, as: UTF8.self) {
            self.text = text
            encoding = "utf8"
        } else {
            text = Data(body).base64EncodedString()
            encoding = "base64"
        }
    }
}

/// Everything about one dead letter (`commerce dlq show`): its failure, properties, headers and body.
public struct DeadLetterDetails: Encodable {
    public var deadLetter: DeadLetterReport
    public var properties: PropertiesReport
    public var headers: [String: HeaderValue]
    public var body: String
    public var bodyEncoding: String

    public init(_ letter: DeadLetter, now: Date) {
        deadLetter = DeadLetterReport(letter, now: now)
        properties = PropertiesReport(letter.properties)
        headers = HeaderValue.table(letter.properties.headers)
        let reported = ReportedBody(letter.body)
        body = reported.text
        bodyEncoding = reported.encoding
    }
}

/// One line of a dead-letter export (`commerce dlq export`): enough to publish the message again
/// (queue, original queue, properties, headers, body), one JSON object per line.
public struct DeadLetterExportLine: Encodable {
    public var queue: String
    public var originalQueue: String
    public var properties: PropertiesReport
    public var headers: [String: HeaderValue]
    public var body: String
    public var bodyEncoding: String

    public init(_ letter: DeadLetter) {
        queue = letter.queue
        originalQueue = letter.originalQueue
        properties = PropertiesReport(letter.properties)
        headers = HeaderValue.table(letter.properties.headers)
        let reported = ReportedBody(letter.body)
        body = reported.text
        bodyEncoding = reported.encoding
    }

    /// `letters` as JSON lines: snake_case keys, sorted, slashes unescaped, each line ended by a
    /// newline.
    public static func jsonLines(_ letters: [DeadLetter]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for letter in letters {
            data.append(try encoder.encode(DeadLetterExportLine(letter)))
            data.append(0x0A)
        }
        return data
    }
}
