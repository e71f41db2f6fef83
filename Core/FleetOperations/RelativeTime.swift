import Foundation

/// "3 min ago", for the failure times of `commerce dlq`.
public enum RelativeTime {
    public static func describe(_ date: Date?, now: Date = Date()) -> String {
        guard let date else { return "unknown" }
        let seconds = Int(now.timeIntervalSince(date).rounded())
        if seconds < 0 { return "in the future" }
        if seconds < 5 { return "just now" }
        if seconds < 60 { return "\(seconds) s ago" }
        if seconds < 3600 { return "\(seconds / 60) min ago" }
        if seconds < 86400 { return "\(seconds / 3600) h ago" }
        return "\(seconds / 86400) d ago"
    }

    public static func iso8601(_ date: Date?) -> String? { date.map { $0.formatted(.iso8601) } }
}
