import ArgumentParser
import CommandLineSupport
import FleetOperations
import Foundation
import SagaAudit

/// `commerce audit`: the saga audit (docs/saga.md, "Invariants"; ``FleetOperations/FleetAudit``) across the four stores and the card
/// processor's books (read through its charge listing), as a report. Exit 0 when every invariant
/// holds, 1 on any violation, a processor that could not be read included.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract:
            "Check the saga's six invariants across the orders, inventory, payments and notification stores and "
            + "the card processor's books.",
        discussion: """
            Read-only. Prints what the stores hold (orders by status, reservations by status, \
            notifications by event type, orders with a payment ledger, SKUs), how many charges the card \
            processor holds, and every violation, grouped by invariant, with the orders concerned. \
            Invariant 6 reconciles the processor's books, read through its charge listing \
            (GET /v1/charges), with the order outcomes; a processor that cannot be read is a violation, \
            and with --payment-gateway sandbox it is not checked (the report says so). Run it once the \
            fleet is quiet: an order still on its way is reported under invariant 1. Exit status 1 on \
            any violation.
            """)

    @OptionGroup var stores: StoreOptions
    @OptionGroup var processor: ProcessorOptions
    @OptionGroup var output: OutputOptions

    func run() throws {
        let audit: SagaAuditReport
        do {
            audit = try stores.audit(applicationName: "commerce-audit", processor: processor.books())
        } catch {
            if output.json {
                struct Failure: Encodable { var error: String }
                output.printJSON(Failure(error: "\(error)"))
            }
            throw error
        }
        let report = FleetAudit.report(audit)
        if output.json { output.printJSON(report) } else { printText(report) }
        if !report.clean {
            let broken = report.invariants.filter { !$0.holds }.map { "\($0.number)" }.joined(separator: ", ")
            throw CommandFailure("\(report.violations) violation(s) of invariant(s) \(broken)")
        }
    }

    private func printText(_ report: FleetAudit.Report) {
        func tally(_ values: [String: Int]) -> String {
            values.isEmpty
                ? ""
                : " (" + values.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")"
        }
        let counts = report.counts
        print("orders: \(counts.orders)\(tally(counts.ordersByStatus))")
        print("reservations: \(counts.reservationsByStatus.values.reduce(0, +))\(tally(counts.reservationsByStatus))")
        print("notifications: \(counts.notifications)\(tally(counts.notificationsByEventType))")
        print("orders with a payment ledger: \(counts.ordersWithLedger)")
        print("SKUs: \(counts.skus)")
        let reconciliation = report.reconciliation
        switch reconciliation.status {
        case "checked":
            print("card processor: \(reconciliation.charges ?? 0) charge(s), \(reconciliation.kept ?? 0) kept")
        case "not_checked": print("card processor: not read (\(reconciliation.reason ?? ""))")
        default: print("card processor: could not be read (\(reconciliation.reason ?? ""))")
        }
        print("")
        if report.clean {
            if reconciliation.status == "checked" {
                print(
                    "✓ the six invariants hold across orders, inventory, payments, notifications and the card "
                        + "processor's books")
            } else {
                print("✓ invariants 1 to 5 hold across orders, inventory, payments and notifications")
                print(
                    "– invariant 6 (the reconciliation with the card processor) not checked: "
                        + (reconciliation.reason ?? ""))
            }
            return
        }
        print("✗ \(report.violations) violation(s)")
        for invariant in report.invariants {
            guard invariant.checked else {
                print(
                    "– invariant \(invariant.number): \(invariant.title): not checked: \(reconciliation.reason ?? "")")
                continue
            }
            guard !invariant.holds else {
                print("✓ invariant \(invariant.number): \(invariant.title)")
                continue
            }
            print("✗ invariant \(invariant.number): \(invariant.title): \(invariant.violations.count) violation(s)")
            if !invariant.orderIDs.isEmpty { print("  orders: \(invariant.orderIDs.joined(separator: ", "))") }
            for violation in invariant.violations { print("  - \(violation.subject): \(violation.message)") }
        }
    }
}
