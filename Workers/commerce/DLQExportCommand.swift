import ArgumentParser
import CommandLineSupport
import FleetOperations
import Foundation

/// `commerce dlq export FILE`: the dead letters as JSON lines, removing nothing.
struct DLQExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write dead letters to a file as JSON lines, without removing them.",
        discussion: """
            One object per line: queue, original_queue, properties, headers, body (UTF-8 text, \
            else base64, as body_encoding says). FILE '-' is standard output.
            """)

    struct Report: Encodable {
        var broker: String
        var file: String
        var exported: Int
    }

    @OptionGroup var broker: BrokerOptions
    @OptionGroup var filters: DLQFilterOptions

    @Argument(help: ArgumentHelp("Where to write the JSON lines ('-' for standard output).", valueName: "file"))
    var file: String

    @OptionGroup var output: OutputOptions

    func run() throws {
        try DLQReporting.run(output) {
            let filter = filters.filter()
            let session = try DeadLetterSession(broker: broker, name: "commerce dlq export")
            let (chosen, _) = try session.readMatching(filters.deadLetterQueues, filter: filter, limit: filters.limit)
            try session.finish()
            let data = try DeadLetterExportLine.jsonLines(chosen)
            if file == "-" {
                FileHandle.standardOutput.write(data)
                return
            }
            do {
                try data.write(to: URL(fileURLWithPath: file), options: .atomic)
            } catch {
                throw CommandFailure("cannot write '\(file)': \(error.localizedDescription)")
            }
            if output.json {
                output.printJSON(Report(broker: session.address, file: file, exported: chosen.count))
            } else {
                print("RabbitMQ \(session.address): exported \(chosen.count) dead letter(s) to \(file)")
            }
        }
    }
}
