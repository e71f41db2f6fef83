import ArgumentParser
import CommandLineSupport
import FleetOperations
import Foundation

/// `commerce dlq show ID`: everything about one dead letter.
struct DLQShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show one dead letter: headers, properties, body, error and attempts.")

    struct Report: Encodable {
        var broker: String
        var messages: [DeadLetterDetails]
    }

    @OptionGroup var broker: BrokerOptions

    @Argument(help: ArgumentHelp("The message id.", valueName: "id"))
    var id: String

    @Option(
        name: .customLong("queue"),
        help: ArgumentHelp(
            "A worker queue whose <queue>.dlq to search (repeatable; default the fleet's).", valueName: "name"))
    var queues: [String] = []

    @OptionGroup var output: OutputOptions

    func run() throws {
        try DLQReporting.run(output) {
            let now = Date()
            let deadLetterQueues = DLQFilterOptions.deadLetterQueues(of: queues)
            let filter = DeadLetterFilter(messageID: id)
            let session = try DeadLetterSession(broker: broker, name: "commerce dlq show")
            let (letters, missing) = try session.readAll(deadLetterQueues, filter: filter)
            try session.finish()
            let found = letters.filter(filter.matches)
            guard !found.isEmpty else {
                throw CommandFailure(
                    "no dead letter with message id '\(BodyText.escaped(Array(id.utf8)))' in "
                        + deadLetterQueues.joined(separator: ", ")
                        + (missing.isEmpty ? "" : " (" + missing.joined(separator: ", ") + " does not exist)"))
            }
            if output.json {
                output.printJSON(
                    Report(
                        broker: session.address,
                        messages: found.map { DeadLetterDetails($0, now: now) }))
                return
            }
            for letter in found {
                let details = DeadLetterDetails(letter, now: now)
                let report = details.deadLetter
                print("Dead letter \(BodyText.escaped(Array(report.messageId.utf8))) in \(report.queue)")
                print(
                    "  error:     \(report.errorClass)/\(report.reason): \(BodyText.escaped(Array(report.message.utf8)))"
                )
                print("  attempts:  \(report.attempts.map { "\($0)" } ?? "-")")
                print("  failed:    \(report.failedAt ?? "unknown") (\(report.failedAgo)) by \(report.failedBy ?? "-")")
                print("  replays to: \(report.originalQueue)")
                print("Properties")
                for (name, value) in details.properties.lines { print("  \(name): \(value)") }
                print("Headers")
                for name in details.headers.keys.sorted() {
                    print("  \(BodyText.escaped(Array(name.utf8))): \(details.headers[name]!.text)")
                }
                print("Body (\(letter.body.count) bytes)")
                print(BodyText.render(letter.body))
            }
        }
    }
}
