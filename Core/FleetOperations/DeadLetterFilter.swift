import Foundation

/// Which dead letters a `commerce dlq` subcommand acts on: pure, built from the command line.
public struct DeadLetterFilter {
    /// Matches the error class (`transient`, `permanent`, `broker`) or the reason.
    public var errorClass: String?
    /// The message type (`type` property).
    public var type: String?
    /// Only dead letters that failed at or after this time.
    public var since: Date?
    /// Only this message id.
    public var messageID: String?

    /// A filter; every criterion left `nil` matches every dead letter.
    public init(errorClass: String? = nil, type: String? = nil, since: Date? = nil, messageID: String? = nil) {
        self.errorClass = errorClass
        self.type = type
        self.since = since
        self.messageID = messageID
    }

    public func matches(_ letter: DeadLetter) -> Bool {
        if let errorClass, letter.errorClass != errorClass, letter.reason != errorClass { return false }
        if let type, letter.type != type { return false }
        if let messageID, letter.messageID != messageID { return false }
        if let since {
            // A dead letter without a time cannot be shown to be recent enough.
            guard let failedAt = letter.failedAt, failedAt >= since else { return false }
        }
        return true
    }

    /// Parses `--since`: an ISO-8601 time (`2026-11-30T10:00:00Z`) or a duration back from `now`
    /// (`90s`, `15m`, `1h`, `2d`, `1w`); `nil` for anything else.
    public static func parseSince(_ text: String, now: Date = Date()) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let date = DeadLetter.parseDate(trimmed) { return date }
        guard let match = trimmed.wholeMatch(of: /(\d{1,9})(s|m|min|h|d|w)/), let amount = Double(match.1) else {
            return nil
        }
        let unit: Double =
            switch match.2 {
            case "s": 1
            case "m", "min": 60
            case "h": 3600
            case "d": 86400
            default: 7 * 86400
            }
        return now.addingTimeInterval(-amount * unit)
    }
}
