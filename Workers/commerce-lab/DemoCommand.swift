import AMQP
import ArgumentParser
import CommandLineSupport
import FleetOperations
import Foundation
import Lab

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

    func run() throws {
        let amqp: AMQPConnection
        do {
            amqp = try AMQPConnection(configuration: broker.configuration(connectionName: "commerce-lab demo"))
        } catch {
            throw CommandFailure(CommandFailure.describe(error))
        }
        defer { amqp.close() }
        let report = try DemoRun.run(
            orders: orders, approvedOnly: mix == "approved", timeout: timeout, settle: settle, on: amqp,
            audit: { try stores.audit(applicationName: "commerce-demo", processor: processor.books()) },
            progress: progress)
        if output.json { output.printJSON(report) } else { printTable(report) }
        if report.unfinished > 0 || !report.auditClean {
            throw CommandFailure(
                "\(report.unfinished) order(s) did not end within \(timeout) s; audit "
                    + (report.auditClean ? "clean" : "found \(report.audit.count) violation(s)"))
        }
    }

    // MARK: - Output

    private func progress(_ line: String) {
        if output.json {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        } else {
            print(line)
        }
    }

    private func printTable(_ report: DemoRun.Report) {
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
