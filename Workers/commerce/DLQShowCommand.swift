import ArgumentParser
import CommandLineSupport
import FleetOperations
import Foundation

/// `commerce dlq show ID`: everything about one dead letter.
struct DLQShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show one dead letter: headers, properties, body, error and attempts.")

    struct Shown: Encodable {
        var deadLetter: DeadLetterReport
        var properties: PropertiesReport
        var headers: [String: HeaderValue]
        var body: String
        var bodyEncoding: String
    }

    struct Report: Encodable {
        var broker: String
        var messages: [Shown]
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
                        messages: found.map { letter in
                            let text = String(validating: letter.body, as: UTF8.self)
                            return Shown(
                                deadLetter: DeadLetterReport(letter, now: now),
                                properties: PropertiesReport(letter.properties),
                                headers: HeaderValue.table(letter.properties.headers),
                                body: text ?? Data(letter.body).base64EncodedString(),
                                bodyEncoding: text == nil ? "base64" : "utf8")
                        }))
                return
            }
            for letter in found {
                let report = DeadLetterReport(letter, now: now)
                print("Dead letter \(BodyText.escaped(Array(report.messageId.utf8))) in \(report.queue)")
                print(
                    "  error:     \(report.errorClass)/\(report.reason): \(BodyText.escaped(Array(report.message.utf8)))"
                )
                print("  attempts:  \(report.attempts.map { "\($0)" } ?? "-")")
                print("  failed:    \(report.failedAt ?? "unknown") (\(report.failedAgo)) by \(report.failedBy ?? "-")")
                print("  replays to: \(report.originalQueue)")
                print("Properties")
                for (name, value) in PropertiesReport(letter.properties).lines { print("  \(name): \(value)") }
                print("Headers")
                let headers = HeaderValue.table(letter.properties.headers)
                for name in headers.keys.sorted() {
                    print("  \(BodyText.escaped(Array(name.utf8))): \(headers[name]!.text)")
                }
                print("Body (\(letter.body.count) bytes)")
                print(BodyText.render(letter.body))
            }
        }
    }
}
