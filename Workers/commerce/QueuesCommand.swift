import AMQP
import ArgumentParser
import CommandLineSupport
import FleetOperations

/// `commerce queues`: ready messages and consumers of the worker queues and their dead-letter
/// queues (``FleetOperations/QueueDepth``), as a table or JSON.
///
/// A queue that does not exist is reported as missing, not as a failure. The command exits 1
/// when the broker cannot be reached or refuses a check for another reason (access refused, for
/// instance).
struct QueuesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues",
        abstract: "Show ready messages and consumers of the worker queues and their dead-letter queues.",
        discussion: """
            Checks \(QueueDepth.fleetQueues.joined(separator: ", ")) and every --queue, each with its \
            dead-letter queue (<queue>.dlq). Counts come from a passive queue.declare: "ready" \
            does not include messages delivered and not yet acknowledged.
            """)

    struct Report: Encodable {
        var broker: String
        var queues: [QueueDepth]
    }

    @OptionGroup var broker: BrokerOptions

    @Option(
        name: .customLong("queue"),
        help: ArgumentHelp("Another worker queue to show, with its .dlq (repeatable).", valueName: "name"))
    var extraQueues: [String] = []

    @OptionGroup var output: OutputOptions

    func validate() throws {
        for name in extraQueues {
            // AMQP queue names are short strings: at most 255 bytes.
            guard !name.isEmpty, name.utf8.count <= 255 else {
                throw ValidationError("--queue needs a name of 1 to 255 bytes, got '\(name)'")
            }
        }
    }

    func run() throws {
        var workerQueues: [String] = []
        for name in QueueDepth.fleetQueues + extraQueues where !workerQueues.contains(name) {
            workerQueues.append(name)
        }
        let address = Setting.redacted(broker.resolvedURL)
        let connection: AMQPConnection
        do {
            connection = try AMQPConnection(configuration: broker.configuration(connectionName: "commerce queues"))
        } catch {
            try fail("cannot reach RabbitMQ at \(address): \(CommandFailure.describe(error))")
        }
        defer { connection.close() }

        let reports: [QueueDepth]
        do {
            reports = try QueueDepth.read(workerQueues, on: connection, address: address)
        } catch let failure as OperationFailure {
            try fail(failure.description)
        }

        if output.json {
            output.printJSON(Report(broker: address, queues: reports))
        } else {
            printTable(reports, broker: address)
        }
        if reports.contains(where: { $0.state == .failed }) { throw ExitCode.failure }
    }

    private func printTable(_ reports: [QueueDepth], broker address: String) {
        let width = max(24, reports.map(\.name.count).max() ?? 0) + 2
        func pad(_ text: String) -> String { text + String(repeating: " ", count: max(0, width - text.count)) }
        func right(_ text: String, _ width: Int) -> String {
            String(repeating: " ", count: max(0, width - text.count)) + text
        }
        print("RabbitMQ \(address)")
        print(pad("QUEUE") + right("READY", 9) + right("CONSUMERS", 11))
        for report in reports {
            switch report.state {
            case .present:
                print(pad(report.name) + right("\(report.ready ?? 0)", 9) + right("\(report.consumers ?? 0)", 11))
            case .missing:
                print(pad(report.name) + right("missing", 9))
            case .failed:
                print(pad(report.name) + right("error", 9) + "  " + (report.error ?? ""))
            }
        }
    }

    /// Reports `message` on standard error (and as JSON with `--json`), then exits with status 1.
    private func fail(_ message: String) throws -> Never {
        if output.json {
            struct Failure: Encodable { var error: String }
            output.printJSON(Failure(error: message))
        }
        throw CommandFailure(message)
    }
}
