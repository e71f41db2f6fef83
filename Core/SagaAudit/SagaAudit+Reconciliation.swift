import CommerceDomain
import Payments

extension SagaAudit {
    /// The card processor's books as the audit got them, for invariant 6 (docs/saga.md,
    /// "Invariants"): read through the processor's API, never from its database.
    public enum ProcessorBooks: Sendable, Hashable {
        /// Every charge the processor holds, with its refunds.
        case charges([ProcessorCharge])
        /// The processor was asked and could not be read: invariant 6 could not be checked, which
        /// is a violation (an audit that cannot see the money must not pass).
        case unreadable(String)
        /// Not asked, on purpose, for the reason given (the sandbox processor, whose books are
        /// the payment-worker's memory): invariant 6 is not checked and the report says so.
        case notConsulted(String)
    }

    /// The number of the reconciliation invariant.
    public static let reconciliationInvariant = 6

    /// Invariant 6, the daily reconciliation of a payments team: per order, what the processor
    /// kept (captures − refunds, declines count 0) equals what the order's outcome says: the
    /// total for `CONFIRMED`, 0 for `CANCELLED` or `REJECTED`. A charge whose order reference the
    /// orders database does not know at all is a difference too, whatever its amount. Orders not
    /// terminal yet are left to invariant 1 (their money may still be on its way); a `CONFIRMED`
    /// order without a total to invariant 2. Pure.
    static func reconcile(
        _ orders: [OrderFacts], _ books: ProcessorBooks
    ) -> (violations: [SagaAuditReport.Violation], reconciliation: SagaAuditReport.Reconciliation) {
        let charges: [ProcessorCharge]
        switch books {
        case .notConsulted(let reason):
            return ([], .notChecked(reason))
        case .unreadable(let reason):
            let violation = SagaAuditReport.Violation(
                invariant: reconciliationInvariant, subject: .processor,
                message: "could not be checked: the processor's charges could not be read: \(reason)")
            return ([violation], .failed(reason))
        case .charges(let all):
            charges = all
        }
        var violations: [SagaAuditReport.Violation] = []
        var byOrder: [String: [ProcessorCharge]] = [:]
        for charge in charges { byOrder[charge.orderReference, default: []].append(charge) }

        var known: Set<String> = []
        for order in orders {
            known.insert(order.orderID)
            let expected: Int
            switch OrderStatus(rawValue: order.status) {
            case .confirmed?:
                guard let total = order.total else { continue }
                expected = total
            case .cancelled?, .rejected?:
                expected = 0
            case .pending?, .stockReserved?, nil:
                continue
            }
            let held = byOrder[order.orderID] ?? []
            let kept = held.reduce(0) { $0 + $1.kept }
            guard kept != expected else { continue }
            let difference = kept - expected
            let outcome = expected == 0 ? order.status : "\(order.status) for \(expected)"
            violations.append(
                SagaAuditReport.Violation(
                    invariant: reconciliationInvariant, subject: .order(order.orderID),
                    message: "\(outcome) but the processor kept \(kept) "
                        + "(\(difference > 0 ? "over" : "under") by \(abs(difference))): \(describe(held))"))
        }
        for charge in charges where !known.contains(charge.orderReference) {
            violations.append(
                SagaAuditReport.Violation(
                    invariant: reconciliationInvariant, subject: .order(charge.orderReference),
                    message: "the processor holds a charge for an order the fleet does not know: \(describe([charge]))")
            )
        }
        let kept = charges.reduce(0) { $0 + $1.kept }
        return (violations, .checked(charges: charges.count, kept: kept))
    }

    /// `ch_1 captured 5000 refunded 5000; ch_2 declined`, or `no charge`.
    private static func describe(_ charges: [ProcessorCharge]) -> String {
        guard !charges.isEmpty else { return "no charge" }
        return charges.map { charge in
            guard charge.isCaptured else { return "\(charge.id) declined" }
            let refunded = charge.amount - charge.kept
            return "\(charge.id) captured \(charge.amount) \(charge.currency), refunded \(refunded)"
        }.joined(separator: "; ")
    }
}
