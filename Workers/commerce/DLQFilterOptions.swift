import ArgumentParser
import FleetOperations
import Foundation

/// The options that choose dead letters, shared by the `commerce dlq` subcommands.
struct DLQFilterOptions: ParsableArguments {
    @Option(
        name: .customLong("queue"),
        help: ArgumentHelp(
            "A worker queue whose <queue>.dlq to read (repeatable; default the fleet's queues).", valueName: "name"))
    var queues: [String] = []

    @Option(
        name: .customLong("error-class"),
        help: ArgumentHelp("Only this error class (transient, permanent, broker) or reason.", valueName: "class"))
    var errorClass: String?

    @Option(name: .customLong("type"), help: ArgumentHelp("Only this message type.", valueName: "type"))
    var type: String?

    @Option(
        name: .customLong("since"),
        help: ArgumentHelp(
            "Only failures since an ISO-8601 time or a duration ago (90s, 15m, 1h, 2d).", valueName: "when"))
    var since: String?

    @Option(name: .customLong("limit"), help: ArgumentHelp("At most this many dead letters.", valueName: "n"))
    var limit: Int?

    func validate() throws {
        for name in queues {
            guard !name.isEmpty, name.utf8.count <= 251 else {
                throw ValidationError("--queue needs a worker queue name of 1 to 251 bytes, got '\(name)'")
            }
        }
        if let since, DeadLetterFilter.parseSince(since) == nil {
            throw ValidationError(
                "--since: '\(since)' is neither an ISO-8601 time (2026-11-30T10:00:00Z) nor a duration (90s, 15m, 1h, 2d)"
            )
        }
        if let limit, limit <= 0 { throw ValidationError("--limit must be positive, not \(limit)") }
    }

    /// The filter, with `--since` resolved against `now`.
    func filter(messageID: String? = nil, now: Date = Date()) -> DeadLetterFilter {
        DeadLetterFilter(
            errorClass: errorClass, type: type, since: since.flatMap { DeadLetterFilter.parseSince($0, now: now) },
            messageID: messageID)
    }

    /// The dead-letter queues to read: each `--queue`'s, or the fleet's.
    var deadLetterQueues: [String] { Self.deadLetterQueues(of: queues) }

    /// `<queue>.dlq` of each of `queues`, or of the fleet's queues when there are none.
    static func deadLetterQueues(of queues: [String]) -> [String] { DeadLetterSession.deadLetterQueues(of: queues) }
}
