import Foundation

/// Dead letters that failed alike: the same queue, error class, reason and message once
/// ``ErrorMessageNormaliser`` has replaced its digits, UUIDs and quoted values. What `commerce dlq
/// summary` counts.
public struct DeadLetterGroup: Sendable {
    public var queue: String
    public var errorClass: String
    public var reason: String
    /// The normalised message.
    public var message: String
    public var count: Int
    /// When the first and the last of the group failed, if any says.
    public var oldest: Date?
    public var newest: Date?

    /// `letters` grouped, the largest group first (groups of one size in the order first met).
    public static func groups(of letters: [DeadLetter]) -> [DeadLetterGroup] {
        struct Key: Hashable {
            var queue, errorClass, reason, message: String
        }
        var order: [Key] = []
        var members: [Key: [DeadLetter]] = [:]
        for letter in letters {
            let key = Key(
                queue: letter.queue, errorClass: letter.errorClass, reason: letter.reason,
                message: ErrorMessageNormaliser.normalise(letter.message))
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(letter)
        }
        return order.map { key in
            let times = members[key]!.compactMap(\.failedAt)
            return DeadLetterGroup(
                queue: key.queue, errorClass: key.errorClass, reason: key.reason, message: key.message,
                count: members[key]!.count, oldest: times.min(), newest: times.max())
        }.sorted { $0.count > $1.count }
    }
}
