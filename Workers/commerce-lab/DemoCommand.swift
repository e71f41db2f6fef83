import AMQP
import ArgumentParser
import CommandLineSupport
import CommerceMessages
import CommerceSupport
import FleetOperations
import Foundation
import Mongo
import Postgres
import SagaAudit
import WorkerRuntime

/// `commerce-lab demo`: what `scripts/run.sh` shows. Places a mix of sample orders through the broker
/// exactly as an upstream system would, follows each to its terminal event, cancels one confirmed
/// order as its customer would, prints how each order ended and how long it took, and runs the
/// saga audit across every store. Exit 0 only if every order ended and the audit is clean.
///
/// The fleet must be running (scripts/run.sh starts it). The mix, by position in a cycle of
/// eight: four orders that should be confirmed, one declined card, one card that fails twice
/// before it is charged, one order for an item nobody stocks, one invalid order; the first
/// confirmed order is then cancelled by its customer (refund and restock).
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Place sample orders through the running fleet, follow each to its end, and audit every store.")

    @OptionGroup var broker: BrokerOptions

    @Option(help: ArgumentHelp("Orders to place.", valueName: "n"))
    var orders = 16

    @Option(help: ArgumentHelp("Seconds to wait for every order to end.", valueName: "s"))
    var timeout = 120

    @Option(
        help: ArgumentHelp(
            "Seconds to let the fleet's trailing work (sales, refunds, notifications) settle before the audit "
                + "counts a violation.", valueName: "s"))
    var settle = 60

    @Option(
        help: ArgumentHelp(
            "Which samples: 'all' (the cycle of eight described above) or 'approved' (only orders that should be "
                + "confirmed, for a burst through the happy path).", valueName: "mix"))
    var mix = "all"

    @OptionGroup var stores: StoreOptions

    @OptionGroup var processor: ProcessorOptions

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard orders > 0 else { throw ValidationError("--orders must be positive, not \(orders)") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive, not \(timeout)") }
        guard ["all", "approved"].contains(mix) else {
            throw ValidationError("--mix must be 'all' or 'approved', not '\(mix)'")
        }
    }

    /// One sample order and what became of it.
    struct Outcome: Encodable {
        var orderID: String
        var kind: String
        var expected: String
        var result: String?
        var reason: String?
        var milliseconds: Int?
        var asExpected: Bool { result == expected }

        enum CodingKeys: String, CodingKey {
            case orderID, kind, expected, result, reason, milliseconds
        }
    }

    struct Report: Encodable {
        /// From the first publish to the last terminal event, and orders per second over it.
        var seconds: Double
        var ordersPerSecond: Double
        var outcomes: [Outcome]
        var unfinished: Int
        var unexpected: Int
        var audit: [String]
        var auditClean: Bool
        /// How invariant 6 was checked against the card processor's books.
        var reconciliation: String
    }

    func run() throws {
        let amqp: AMQPConnection
        do {
            amqp = try AMQPConnection(configuration: broker.configuration(connectionName: "commerce-lab demo"))
        } catch {
            throw CommandFailure(CommandFailure.describe(error))
        }
        defer { amqp.close() }
        let channel = try amqp.openChannel()
        try amqp.enableConfirms(channel: channel)
        // A queue of our own that hears every order's end, declared before anything is placed.
        let watch = "commerce-demo-\(UUID().uuidString.prefix(8).lowercased())"
        try amqp.declareQueue(channel: channel, name: watch, durable: false, exclusive: true, autoDelete: true)
        for type in [MessageType.orderConfirmed, .orderCancelled, .orderRejected] {
            try amqp.bindQueue(
                channel: channel, queue: watch, exchange: FleetCatalog.exchange, routingKey: type.rawValue)
        }

        var outcomes: [Outcome] = []
        var placedAt: [String: ContinuousClock.Instant] = [:]
        let started = ContinuousClock.now
        var lastEnded = started
        // Published in windows of 200 under confirms, as a busy upstream would.
        for window in stride(from: 0, to: orders, by: 200) {
            var commands: [PlaceOrder] = []
            for index in window..<min(window + 200, orders) {
                let (kind, expected, command) = SampleOrders.sample(mix == "approved" ? index % 4 : index)
                commands.append(command)
                outcomes.append(Outcome(orderID: command.orderID, kind: kind, expected: expected))
            }
            try publish(commands, on: amqp, channel: channel)
            let now = ContinuousClock.now
            for command in commands { placedAt[command.orderID] = now }
        }
        progress("placed \(orders) orders; waiting for each to end")
        let deadline = ContinuousClock.now + .seconds(timeout)
        var cancelTarget: String?
        var cancelOutcome: Outcome?
        while ContinuousClock.now < deadline {
            guard let delivery = try amqp.get(channel: channel, queue: watch, autoAck: true) else {
                let finished =
                    outcomes.allSatisfy { $0.result != nil } && (cancelOutcome?.result != nil || cancelTarget == nil)
                if finished && (cancelTarget != nil || !outcomes.contains { $0.expected == "CONFIRMED" }) { break }
                Thread.sleep(forTimeInterval: 0.02)
                continue
            }
            guard let event = try? AnyMessage.decode(type: delivery.properties.type ?? "", body: delivery.body) else {
                continue
            }
            let (result, reason) = Self.describe(event)
            lastEnded = .now
            if let target = cancelTarget, event.orderID == target, result == "CANCELLED" {
                cancelOutcome?.result = result
                cancelOutcome?.reason = reason
                cancelOutcome?.milliseconds = placedAt[target].map { Self.milliseconds(since: $0) }
                continue
            }
            guard let index = outcomes.firstIndex(where: { $0.orderID == event.orderID && $0.result == nil }) else {
                continue
            }
            outcomes[index].result = result
            outcomes[index].reason = reason
            outcomes[index].milliseconds = placedAt[event.orderID].map { Self.milliseconds(since: $0) }
            // The first confirmed order is then cancelled by its customer: refund and restock.
            if cancelTarget == nil, result == "CONFIRMED" {
                cancelTarget = event.orderID
                try publish(
                    [CancelOrder(orderID: event.orderID, reason: "changed my mind")], on: amqp, channel: channel)
                placedAt[event.orderID] = .now
                cancelOutcome = Outcome(orderID: event.orderID, kind: "customer cancel", expected: "CANCELLED")
            }
        }
        if let cancelOutcome { outcomes.append(cancelOutcome) }
        // Compensations, sales, refunds and notifications trail the terminal events: audit until
        // the stores agree, or until `--settle` seconds have passed, then report what is left.
        var audit = try runAudit()
        let settleDeadline = ContinuousClock.now + .seconds(settle)
        while !audit.isClean && ContinuousClock.now < settleDeadline {
            Thread.sleep(forTimeInterval: 1)
            audit = try runAudit()
        }
        let seconds = (lastEnded - started).seconds
        let report = Report(
            seconds: seconds, ordersPerSecond: seconds > 0 ? Double(orders) / seconds : 0, outcomes: outcomes,
            unfinished: outcomes.filter { $0.result == nil }.count,
            unexpected: outcomes.filter { $0.result != nil && !$0.asExpected }.count,
            audit: audit.violations.map { "\($0)" }, auditClean: audit.isClean,
            reconciliation: "\(audit.reconciliation)")
        if output.json { output.printJSON(report) } else { printTable(report) }
        if report.unfinished > 0 || !report.auditClean {
            throw CommandFailure(
                "\(report.unfinished) order(s) did not end within \(timeout) s; audit "
                    + (report.auditClean ? "clean" : "found \(report.audit.count) violation(s)"))
        }
    }

    private static func describe(_ event: AnyMessage) -> (String, String?) {
        switch event {
        case .orderConfirmed: ("CONFIRMED", nil)
        case .orderCancelled(let cancelled): ("CANCELLED", cancelled.reason.rawValue)
        case .orderRejected(let rejected): ("REJECTED", rejected.reason.rawValue)
        default: ("?", nil)
        }
    }

    private static func milliseconds(since start: ContinuousClock.Instant) -> Int {
        let elapsed = ContinuousClock.now - start
        return Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }

    // MARK: - Broker and stores

    /// Publishes `messages` persistent and mandatory, then waits for every confirm.
    private func publish<Message: ContractMessage>(_ messages: [Message], on amqp: AMQPConnection, channel: UInt16)
        throws
    {
        let type = Message.messageType.rawValue
        for message in messages {
            let properties = AMQPProperties(
                contentType: "application/json", deliveryMode: 2, correlationID: message.orderID,
                messageID: Envelope.newMessageID(), timestamp: UInt64(Date().timeIntervalSince1970), type: type,
                appID: "commerce-demo")
            try amqp.publish(
                channel: channel, exchange: FleetCatalog.exchange, routingKey: type, mandatory: true,
                properties: properties, body: message.encodedBody())
        }
        let outcomes = try amqp.waitForConfirms(channel: channel, timeout: .seconds(60))
        guard outcomes.values.allSatisfy({ $0 == .confirmed }) else {
            throw CommandFailure(
                "the broker did not take every \(type): \(Set(outcomes.values.map { "\($0)" })) "
                    + "(is the fleet's topology declared? scripts/run.sh starts the workers, which declare it)")
        }
    }

    private func runAudit() throws -> SagaAuditReport {
        try stores.audit(applicationName: "commerce-demo", processor: processor.books())
    }

    // MARK: - Output

    private func progress(_ line: String) {
        if output.json {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        } else {
            print(line)
        }
    }

    private func printTable(_ report: Report) {
        func pad(_ text: String, _ width: Int) -> String {
            text + String(repeating: " ", count: max(0, width - text.count))
        }
        print("")
        print(pad("ORDER", 38) + pad("SAMPLE", 18) + pad("ENDED", 11) + pad("REASON", 20) + "MS")
        for outcome in report.outcomes {
            let mark = outcome.result == nil ? "✗" : (outcome.asExpected ? "✓" : "!")
            print(
                "\(mark) " + pad(outcome.orderID, 37) + pad(outcome.kind, 18) + pad(outcome.result ?? "—", 11)
                    + pad(outcome.reason ?? "", 20) + (outcome.milliseconds.map(String.init) ?? "—"))
        }
        let times = report.outcomes.compactMap(\.milliseconds).sorted()
        if !times.isEmpty {
            print("")
            print(
                "ended: \(times.count) of \(report.outcomes.count); median \(times[times.count / 2]) ms, "
                    + "p99 \(times[min(times.count - 1, times.count * 99 / 100)]) ms, max \(times.last!) ms; "
                    + String(
                        format: "first publish to last end %.2f s, %.0f orders/s", report.seconds,
                        report.ordersPerSecond))
        }
        if report.unexpected > 0 { print("! \(report.unexpected) order(s) ended otherwise than the sample intends") }
        print("")
        if report.auditClean {
            if report.reconciliation.hasPrefix("checked") {
                print(
                    "✓ audit: the six invariants hold across orders, inventory, payments, notifications and the card "
                        + "processor's books (\(report.reconciliation))")
            } else {
                print("✓ audit: invariants 1 to 5 hold across orders, inventory, payments and notifications")
                print("– invariant 6, the reconciliation with the card processor: \(report.reconciliation)")
            }
        } else {
            print("✗ audit: \(report.audit.count) violation(s)")
            for violation in report.audit { print("  - \(violation)") }
        }
    }
}
