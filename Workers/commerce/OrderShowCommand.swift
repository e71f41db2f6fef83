import ArgumentParser
import CommandLineSupport
import FleetOperations
import Foundation

/// `commerce order show ID`: the order as the order-worker stored it, and its saga as a timeline
/// across the fleet, from the message journal of each of the four stores and the dead letters of
/// the worker queues (docs/architecture.md, "The message journal").
///
/// Read-only. Every source that cannot be read is named; what the others hold is still shown,
/// and the command then exits 1. An id that no store and no dead-letter queue knows exits 1.
struct OrderShowCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Show an order and its saga as a timeline across the fleet.",
        discussion: """
            The order (lines, price breakdown, status) comes from the orders database. The timeline \
            lists every message in and out for the order's correlation id, from the message_journal of \
            the orders, inventory and payments databases and of the notifications MongoDB database, \
            plus the dead letters now in <queue>.dlq of the fleet's queues (or of each --queue): \
            times, durations between steps, the worker copy (app@host, pid) of each step, retries, \
            dead letters, and the step that caused each one. Times are each worker's clock, in UTC.
            """)

    struct Report: Encodable {
        var order: OrderDetails?
        var timeline: SagaTimeline
        /// Sources that could not be read (the report is then incomplete and the exit status 1).
        var problems: [String]
    }

    @Argument(help: ArgumentHelp("The order id (the saga's correlation id).", valueName: "id"))
    var id: String

    @OptionGroup var stores: StoreOptions
    @OptionGroup var broker: BrokerOptions

    @Option(
        name: .customLong("queue"),
        help: ArgumentHelp(
            "A worker queue whose <queue>.dlq to read (repeatable; default the fleet's queues).", valueName: "name"))
    var queues: [String] = []

    @Flag(name: .customLong("no-dead-letters"), help: "Do not read the dead-letter queues (the journals only).")
    var skipDeadLetters = false

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard !id.isEmpty, id.utf8.count <= 255, !id.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw ValidationError("the order id must be 1 to 255 bytes without control characters")
        }
        for name in queues where name.isEmpty || name.utf8.count > 251 {
            throw ValidationError("--queue needs a worker queue name of 1 to 251 bytes, got '\(name)'")
        }
    }

    func run() throws {
        let now = Date()
        let history = OrderHistory.read(
            id, stores: stores.fleet(), applicationName: "commerce-order-show",
            deadLetters: skipDeadLetters
                ? nil
                : {
                    let session = try DeadLetterSession(broker: broker, name: "commerce order show")
                    let (letters, _) = try session.readAll(
                        DLQFilterOptions.deadLetterQueues(of: queues), filter: DeadLetterFilter())
                    try session.finish()
                    return letters
                })
        let (order, timeline, problems) = (history.order, history.timeline, history.problems)
        if history.isUnknown {
            let message =
                "no order '\(BodyText.escaped(Array(id.utf8)))' in the orders database at "
                + "\(Setting.redacted(stores.url(.orders))), and no message of that correlation id in the "
                + "journals or the dead-letter queues"
            if output.json { try DLQReporting.fail(message, output: output) }
            throw CommandFailure(message)
        }
        if output.json {
            output.printJSON(Report(order: order, timeline: timeline, problems: problems))
        } else {
            if let order {
                order.printText(now: now)
            } else {
                print("Order \(id): not in the orders database (never stored: see the timeline)")
            }
            print("")
            timeline.printText()
            for problem in problems { print("✗ not read: \(problem)") }
        }
        if !problems.isEmpty {
            throw CommandFailure("the report is incomplete: could not read " + problems.joined(separator: "; "))
        }
    }
}
