import AMQP
import ArgumentParser
import CommandLineSupport
import WorkerRuntime

/// `commerce queues`: ready messages and consumers of the worker queues and their dead-letter
/// queues, read with a passive `queue.declare` (which creates nothing).
///
/// A queue that does not exist is reported as missing, not as a failure: before the workers
/// have run once, that is the expected state. The command fails only when the broker cannot be
/// reached or refuses a check for another reason (access refused, for instance).
struct QueuesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queues",
        abstract: "Show ready messages and consumers of the worker queues and their dead-letter queues.",
        discussion: """
            Checks \(standardQueues.joined(separator: ", ")) and every --queue, each with its \
            dead-letter queue (<queue>.dlq). Counts come from a passive queue.declare: "ready" \
            does not include messages delivered and not yet acknowledged.
            """)

    /// The queues of the saga's workers, in pipeline order.
    static let standardQueues = FleetCatalog.workers.map(\.queue)

    /// What a passive declare found.
    struct QueueReport: Encodable {
        enum State: String, Encodable {
            case present, missing, failed
        }

        var name: String
        /// The worker queue this one holds the dead letters of; `nil` for a worker queue.
        var deadLettersOf: String?
        var state: State
        var ready: UInt32?
        var consumers: UInt32?
        var error: String?

        // Every key always present (null when unknown), so scripts need no existence checks.
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(deadLettersOf, forKey: .deadLettersOf)
            try container.encode(state, forKey: .state)
            try container.encode(ready, forKey: .ready)
            try container.encode(consumers, forKey: .consumers)
            try container.encode(error, forKey: .error)
        }

        private enum CodingKeys: String, CodingKey {
            case name, deadLettersOf, state, ready, consumers, error
        }
    }

    struct Report: Encodable {
        var broker: String
        var queues: [QueueReport]
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
        for name in Self.standardQueues + extraQueues where !workerQueues.contains(name) {
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

        var reports: [QueueReport] = []
        var channel: UInt16?
        for queue in workerQueues {
            let deadLetterQueue = Topology(queue: queue, bindings: []).deadLetterQueue
            for (name, owner) in [(queue, nil), (deadLetterQueue, queue)] {
                do {
                    // A 404 closes the channel (not the connection): open another for the next one.
                    if channel == nil || !connection.isChannelOpen(channel!) { channel = try connection.openChannel() }
                    let status = try connection.queueStatus(channel: channel!, name: name)
                    reports.append(
                        QueueReport(
                            name: name, deadLettersOf: owner, state: .present, ready: status.messageCount,
                            consumers: status.consumerCount))
                } catch let error where error.replyCode == 404 {
                    reports.append(QueueReport(name: name, deadLettersOf: owner, state: .missing))
                } catch let error where error.connectionIsUsable {
                    reports.append(QueueReport(name: name, deadLettersOf: owner, state: .failed, error: "\(error)"))
                } catch {
                    try fail("lost RabbitMQ at \(address) while checking '\(name)': \(error)")
                }
            }
        }

        if output.json {
            output.printJSON(Report(broker: address, queues: reports))
        } else {
            printTable(reports, broker: address)
        }
        if reports.contains(where: { $0.state == .failed }) { throw ExitCode.failure }
    }

    private func printTable(_ reports: [QueueReport], broker address: String) {
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
