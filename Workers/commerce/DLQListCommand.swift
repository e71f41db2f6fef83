import ArgumentParser
import CommandLineSupport
import FleetOperations
import Foundation

/// `commerce dlq list`: one line per dead letter.
struct DLQListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List dead letters, one line each.")

    struct Report: Encodable {
        var broker: String
        var missingQueues: [String]
        var deadLetters: [DeadLetterReport]
    }

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var filters: DLQFilterOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        try DLQReporting.run(output) {
            let now = Date()
            let filter = filters.filter(now: now)
            let session = try DeadLetterSession(broker: broker, name: "commerce dlq list")
            let (matching, missing) = try session.readMatching(
                filters.deadLetterQueues, filter: filter, limit: filters.limit)
            try session.finish()
            let reports = matching.map { DeadLetterReport($0, now: now) }
            if output.json {
                output.printJSON(Report(broker: session.address, missingQueues: missing, deadLetters: reports))
                return
            }
            print("RabbitMQ \(session.address): \(reports.count) dead letter(s)")
            for report in reports {
                let attempts = report.attempts.map { "\($0)" } ?? "-"
                let short = BodyText.escaped(Array(report.message.prefix(60).utf8))
                    .replacingOccurrences(of: "\n", with: " ")
                print(
                    "\(report.queue)  \(report.messageId)  \(report.type)  \(report.errorClass)/\(report.reason)  "
                        + "\"\(short)\"  attempts \(attempts)  \(report.failedAgo)  by \(report.failedBy ?? "-")")
            }
            for queue in missing { print("(\(queue) does not exist)") }
        }
    }
}
