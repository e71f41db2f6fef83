import ArgumentParser
import CommandLineSupport
import FleetOperations
import Foundation
import Glibc

/// `commerce dlq purge`: removes the dead letters that match the filters, and nothing else.
struct DLQPurgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Remove the dead letters that match the filters.",
        discussion: """
            Counts what matches and asks for confirmation on a terminal; --yes skips the question, \
            and is required when standard input is not a terminal.
            """)

    struct Report: Encodable {
        var broker: String
        var matched: Int
        var removed: Int
    }

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var filters: DLQFilterOptions

    @Flag(name: .long, help: "Do not ask for confirmation.")
    var yes = false

    @OptionGroup var output: OutputOptions

    func run() throws {
        try DLQReporting.run(output) {
            let queues = filters.deadLetterQueues
            if !yes {
                // Count on one pass and return everything before asking: no message stays held
                // (and no heartbeat is missed) while a person thinks.
                let session = try DeadLetterSession(broker: broker, name: "commerce dlq purge")
                let count = try session.count(queues, filter: filters.filter(), limit: filters.limit)
                if count == 0 {
                    report(session.address, matched: 0, removed: 0)
                    return
                }
                guard isatty(STDIN_FILENO) == 1 else {
                    throw CommandFailure(
                        "\(count) dead letter(s) match; standard input is not a terminal, so pass --yes to remove them")
                }
                FileHandle.standardOutput.write(
                    Data("Remove \(count) dead letter(s) from \(queues.joined(separator: ", "))? [y/N] ".utf8))
                let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased()
                guard answer == "y" || answer == "yes" else {
                    print("Nothing removed.")
                    return
                }
            }
            let session = try DeadLetterSession(broker: broker, name: "commerce dlq purge")
            let removed = try session.purge(queues, filter: filters.filter(), limit: filters.limit)
            report(session.address, matched: removed, removed: removed)
        }
    }

    private func report(_ address: String, matched: Int, removed: Int) {
        if output.json {
            output.printJSON(Report(broker: address, matched: matched, removed: removed))
        } else {
            print("RabbitMQ \(address): removed \(removed) dead letter(s)")
        }
    }
}
