import ArgumentParser
import CommandLineSupport
import FleetOperations
import Foundation

/// `commerce dlq summary`: dead letters grouped by queue, error class and normalised message.
struct DLQSummaryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "summary",
        abstract: "Count dead letters by queue, error class and error message.",
        discussion: "Digits, UUIDs and quoted values in messages are replaced by placeholders before grouping.")

    struct Group: Encodable {
        var queue: String
        var errorClass: String
        var reason: String
        var message: String
        var count: Int
        var oldest: String?
        var newest: String?
    }

    struct Report: Encodable {
        var broker: String
        var missingQueues: [String]
        var total: Int
        var groups: [Group]
    }

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var filters: DLQFilterOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try DLQReporting.run(output) {
            let now = Date()
            let filter = filters.filter(now: now)
            let session = try DeadLetterSession(broker: broker, name: "commerce dlq summary")
            let (matching, missing) = try session.readMatching(
                filters.deadLetterQueues, filter: filter, limit: filters.limit)
            try session.finish()

            struct Key: Hashable {
                var queue, errorClass, reason, message: String
            }
            var order: [Key] = []
            var members: [Key: [DeadLetter]] = [:]
            for letter in matching {
                let key = Key(
                    queue: letter.queue, errorClass: letter.errorClass, reason: letter.reason,
                    message: ErrorMessageNormaliser.normalise(letter.message))
                if members[key] == nil { order.append(key) }
                members[key, default: []].append(letter)
            }
            let groups = order.map { key in
                let times = members[key]!.compactMap(\.failedAt)
                return (
                    Group(
                        queue: key.queue, errorClass: key.errorClass, reason: key.reason, message: key.message,
                        count: members[key]!.count, oldest: RelativeTime.iso8601(times.min()),
                        newest: RelativeTime.iso8601(times.max())),
                    times.min(), times.max()
                )
            }.sorted { $0.0.count > $1.0.count }
            if output.json {
                output.printJSON(
                    Report(
                        broker: session.address, missingQueues: missing, total: matching.count, groups: groups.map(\.0))
                )
                return
            }
            print("RabbitMQ \(session.address): \(matching.count) dead letter(s) in \(groups.count) group(s)")
            for (group, oldest, newest) in groups {
                print(
                    "\(group.count)×  \(group.queue)  \(group.errorClass)/\(group.reason)  "
                        + "\"\(BodyText.escaped(Array(group.message.utf8)))\"  oldest \(RelativeTime.describe(oldest, now: now))"
                        + "  newest \(RelativeTime.describe(newest, now: now))")
            }
            for queue in missing { print("(\(queue) does not exist)") }
        }
    }
}
