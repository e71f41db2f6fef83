import ArgumentParser
import CommandLineSupport
import FleetOperations
import Foundation

/// `commerce dlq summary`: dead letters grouped by queue, error class and normalised message
/// (``FleetOperations/DeadLetterGroup``).
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

            let groups = DeadLetterGroup.groups(of: matching).map { group in
                (
                    Group(
                        queue: group.queue, errorClass: group.errorClass, reason: group.reason,
                        message: group.message, count: group.count, oldest: RelativeTime.iso8601(group.oldest),
                        newest: RelativeTime.iso8601(group.newest)),
                    group.oldest, group.newest
                )
            }
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
