import AMQP
import ArgumentParser
import CommandLineSupport
import FleetOperations
import Foundation

/// `commerce dlq replay`: dead letters back to the queue they failed in, as fresh messages.
///
/// Each copy goes through the default exchange to the original queue with the same message id
/// and properties, without the failure headers (so its attempts start again), and is confirmed
/// by the broker before its dead letter is acked: an interrupted replay loses nothing, and one
/// repeated after an interruption takes effect once (the worker's inbox drops the duplicate).
struct DLQReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Send dead letters back to the queue they failed in.",
        discussion: """
            Give a message id, or --all with filters. A copy is published under publisher \
            confirms to x-original-queue (else the dead-letter queue's name minus .dlq), without \
            the x-error-*, x-attempts and x-death headers; only a confirmed copy's dead letter is removed. \
            With an id, --body FILE replaces the body, and --edit opens it in $VISUAL or $EDITOR first \
            (pretty-printed if it is JSON): the edited file must be JSON and differ from the original, \
            else nothing is replayed. A copy is sent under this tool's broker user, which workers \
            accept for every type; so a dead letter refused for its sender (forbidden_sender) is \
            never replayed: it stays in its queue, reported as not replayed (docs/security.md).
            """)

    struct Report: Encodable {
        var broker: String
        var replayed: Int
        var failed: Int
        var messages: [ReplayOutcome]
    }

    @OptionGroup var broker: BrokerOptions

    @Argument(help: ArgumentHelp("The message id to replay.", valueName: "id"))
    var id: String?

    @Flag(name: .long, help: "Replay every dead letter that matches the filters.")
    var all = false

    @Option(
        name: .customLong("body"),
        help: ArgumentHelp(
            "Replace the body of the replayed message with this file's JSON (with an id only).", valueName: "file"))
    var bodyFile: String?

    @Flag(
        name: .customLong("edit"),
        help: "Edit the body in $VISUAL or $EDITOR before it is replayed (with an id only).")
    var edit = false

    @OptionGroup var filters: DLQFilterOptions
    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard (id != nil) != all else { throw ValidationError("give either a message id or --all") }
        if bodyFile != nil, id == nil {
            throw ValidationError("--body replaces one message's body: give its id, not --all")
        }
        if edit, id == nil { throw ValidationError("--edit edits one message's body: give its id, not --all") }
        if edit, bodyFile != nil { throw ValidationError("give either --edit or --body, not both") }
        _ = try replacementBody()
    }

    private func replacementBody() throws -> [UInt8]? {
        guard let bodyFile else { return nil }
        guard let data = FileManager.default.contents(atPath: bodyFile) else {
            throw ValidationError("--body: cannot read '\(bodyFile)'")
        }
        guard (try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])) != nil else {
            throw ValidationError("--body: '\(bodyFile)' is not valid JSON")
        }
        return Array(data)
    }

    func run() throws {
        try DLQReporting.run(output) {
            var body = try replacementBody()
            let filter = filters.filter(messageID: id)
            if edit, let id {
                body = try DeadLetterEditor.edit(id, queues: filters.deadLetterQueues, filter: filter, broker: broker)
            }
            let session = try DeadLetterSession(broker: broker, name: "commerce dlq replay")
            let run = try session.replay(filters.deadLetterQueues, filter: filter, limit: filters.limit, body: body)
            if let id, run.outcomes.isEmpty {
                throw CommandFailure(
                    "no dead letter with message id '\(BodyText.escaped(Array(id.utf8)))' matching the filters in "
                        + filters.deadLetterQueues.joined(separator: ", ")
                        + (run.missingQueues.isEmpty
                            ? "" : " (" + run.missingQueues.joined(separator: ", ") + " does not exist)"))
            }
            let results = run.outcomes
            let failed = run.failed
            if output.json {
                output.printJSON(
                    Report(broker: session.address, replayed: run.replayed, failed: failed, messages: results))
            } else {
                print("RabbitMQ \(session.address): replayed \(run.replayed), failed \(failed)")
                for result in results {
                    let line = "\(result.messageId)  \(result.from) → \(result.to)"
                    print(result.error.map { "✗ \(line): \($0)" } ?? "✓ \(line)")
                }
            }
            if failed > 0 {
                throw CommandFailure("\(failed) dead letter(s) were not replayed; they stay in their queue")
            }
        }
    }
}
