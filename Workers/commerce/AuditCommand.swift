import ArgumentParser
import CommandLineSupport
import Foundation
import SagaAudit

/// `commerce audit`: the saga audit (docs/saga.md, "Invariants") across the four stores and the card
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

    /// The invariants of docs/saga.md, by number.
    static let invariants = [
        1: "every placed order reaches exactly one terminal state (CONFIRMED, CANCELLED or REJECTED)",
        2: "CONFIRMED ⇔ one net captured payment of the order's total, and its stock sold",
        3: "CANCELLED or REJECTED ⇔ no net charge and no stock held",
        4: "stock is conserved (initial = available + reserved + sold) and never negative",
        5: "exactly one stored notification per terminal order event, none duplicated",
        6: "the card processor kept, per order, what its outcome says (captures − refunds: the total if CONFIRMED, "
            + "0 if CANCELLED or REJECTED), and holds no charge for an order the fleet does not know",
    ]

    struct Report: Encodable {
        var clean: Bool
        var violations: Int
        var counts: Counts
        var invariants: [Invariant]
        /// How invariant 6 was checked: `checked`, `not_checked` (the sandbox) or `failed`.
        var reconciliation: Reconciliation
    }

    struct Reconciliation: Encodable {
        var status: String
        /// The processor's charges read (`checked` only).
        var charges: Int?
        /// What the processor keeps in all, in minor units (`checked` only).
        var kept: Int?
        /// Why it was not checked or failed.
        var reason: String?
    }

    struct Counts: Encodable {
        var orders: Int
        var ordersByStatus: [String: Int]
        var reservationsByStatus: [String: Int]
        var notifications: Int
        var notificationsByEventType: [String: Int]
        var ordersWithLedger: Int
        var skus: Int
    }

    struct Invariant: Encodable {
        var number: Int
        var title: String
        var holds: Bool
        /// Whether the invariant was checked at all (invariant 6 is not with the sandbox processor).
        var checked: Bool
        /// The orders concerned, sorted.
        var orderIDs: [String]
        var violations: [Violation]

        enum CodingKeys: String, CodingKey {
            case number, title, holds, checked, violations
            // Spelled out: the snake_case strategy would make `orderIDs` "order_i_ds".
            case orderIDs = "order_ids"
        }
    }

    struct Violation: Encodable {
        var subject: String
        var orderID: String?
        var sku: String?
        var notificationID: String?
        var message: String
    }

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
        let report = Self.report(audit)
        if output.json { output.printJSON(report) } else { printText(report) }
        if !report.clean {
            let broken = report.invariants.filter { !$0.holds }.map { "\($0.number)" }.joined(separator: ", ")
            throw CommandFailure("\(report.violations) violation(s) of invariant(s) \(broken)")
        }
    }

    static func report(_ audit: SagaAuditReport) -> Report {
        let counts = audit.counts
        var notChecked = false
        if case .notChecked = audit.reconciliation { notChecked = true }
        let invariants = (1...6).map { number in
            let violations = audit.violations(of: number)
            return Invariant(
                number: number, title: Self.invariants[number] ?? "", holds: violations.isEmpty,
                checked: !(number == SagaAudit.reconciliationInvariant && notChecked),
                orderIDs: Array(Set(violations.compactMap(\.orderID))).sorted(),
                violations: violations.map { violation in
                    var entry = Violation(subject: "\(violation.subject)", message: violation.message)
                    switch violation.subject {
                    case .order(let id): entry.orderID = id
                    case .sku(let sku): entry.sku = sku
                    case .notification(let id): entry.notificationID = id
                    case .processor: break
                    }
                    return entry
                })
        }
        return Report(
            clean: audit.isClean, violations: audit.violations.count,
            counts: Counts(
                orders: counts.orders, ordersByStatus: counts.ordersByStatus,
                reservationsByStatus: counts.reservationsByStatus, notifications: counts.notifications,
                notificationsByEventType: counts.notificationsByEventType, ordersWithLedger: counts.ordersWithLedger,
                skus: counts.skus),
            invariants: invariants, reconciliation: reconciliation(audit.reconciliation))
    }

    private static func reconciliation(_ value: SagaAuditReport.Reconciliation) -> Reconciliation {
        switch value {
        case .checked(let charges, let kept): Reconciliation(status: "checked", charges: charges, kept: kept)
        case .notChecked(let reason): Reconciliation(status: "not_checked", reason: reason)
        case .failed(let reason): Reconciliation(status: "failed", reason: reason)
        }
    }

    private func printText(_ report: Report) {
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
