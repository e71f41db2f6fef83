import Payments
import SagaAudit
import Testing

/// Invariant 6, the reconciliation of the card processor's books with the order outcomes
/// (docs/saga.md, "Invariants"), over plain values: ``SagaAudit/evaluate(_:)``.
@Suite("SagaAudit: reconciliation with the card processor")
struct SagaAuditReconciliationTests {
    typealias Facts = SagaAudit.OrderFacts

    /// The processor's books of ``SagaAuditTests/clean``: the confirmed order's capture, the
    /// declined card, the order confirmed then cancelled with its refund.
    static let books: [ProcessorCharge] = [
        ProcessorCharge(id: "ch_confirmed", orderReference: "confirmed", isCaptured: true, amount: 63_000),
        ProcessorCharge(id: "ch_declined", orderReference: "declined", isCaptured: false, amount: 63_000),
        ProcessorCharge(
            id: "ch_later", orderReference: "cancelled-later", isCaptured: true, amount: 123_000,
            refunds: [.init(id: "re_later", amount: 123_000)]),
    ]

    static func snapshot(_ charges: [ProcessorCharge] = books) -> SagaAudit.Snapshot {
        var snapshot = SagaAuditTests.clean
        snapshot.processor = .charges(charges)
        return snapshot
    }

    @Test("books that match every outcome: clean, and the report says how many charges were read")
    func clean() {
        let report = SagaAudit.evaluate(Self.snapshot())
        #expect(report.isClean, "\(report.violations)")
        #expect(report.reconciliation == .checked(charges: 3, kept: 63_000))
    }

    @Test("a capture kept for a cancelled order with no record of it (nothing in the fleet's ledger) is a difference")
    func captureKeptForCancelledOrder() {
        // The defect reconciliation exists for: the payment worker's ledger says nothing was
        // captured (invariant 3 holds), the processor kept the money.
        var charges = Self.books
        charges.append(ProcessorCharge(id: "ch_lost", orderReference: "out-of-stock", isCaptured: true, amount: 83_000))
        let report = SagaAudit.evaluate(Self.snapshot(charges))
        #expect(report.violations.map(\.invariant) == [6])
        #expect(report.orderIDs == ["out-of-stock"])
        #expect(
            report.violations.first?.message.contains("CANCELLED but the processor kept 83000") == true,
            "\(report.violations)")
        #expect(report.violations.first?.message.contains("ch_lost") == true)
        #expect(report.violations(of: 3).isEmpty, "the fleet's own ledger is clean: only the processor's books tell")
    }

    @Test("a refund that never happened for an order confirmed then cancelled is a difference")
    func refundMissing() {
        var charges = Self.books
        charges[2].refunds = []
        let report = SagaAudit.evaluate(Self.snapshot(charges))
        #expect(report.violations.map(\.invariant) == [6])
        #expect(report.orderIDs == ["cancelled-later"])
    }

    @Test(
        "a confirmed order under- or over-charged at the processor is a difference",
        arguments: [
            // Refunded in part.
            [
                ProcessorCharge(
                    id: "ch_confirmed", orderReference: "confirmed", isCaptured: true, amount: 63_000,
                    refunds: [.init(id: "re_1", amount: 1_000)])
            ],
            // Never captured (declined at the processor).
            [ProcessorCharge(id: "ch_confirmed", orderReference: "confirmed", isCaptured: false, amount: 63_000)],
            // No charge at all.
            [],
            // Captured twice.
            [
                ProcessorCharge(id: "ch_confirmed", orderReference: "confirmed", isCaptured: true, amount: 63_000),
                ProcessorCharge(id: "ch_again", orderReference: "confirmed", isCaptured: true, amount: 63_000),
            ],
            // Captured for more than the total.
            [ProcessorCharge(id: "ch_confirmed", orderReference: "confirmed", isCaptured: true, amount: 63_001)],
        ])
    func confirmedWrongAmount(charges: [ProcessorCharge]) {
        let rest = Self.books.filter { $0.orderReference != "confirmed" }
        let report = SagaAudit.evaluate(Self.snapshot(rest + charges))
        #expect(report.violations.map(\.invariant) == [6], "\(report.violations)")
        #expect(report.orderIDs == ["confirmed"])
        let kept = charges.reduce(0) { $0 + $1.kept }
        #expect(
            report.violations.first?.message.contains("CONFIRMED for 63000 but the processor kept \(kept)") == true,
            "\(report.violations)")
        #expect(report.violations.first?.message.contains(kept > 63_000 ? "over by" : "under by") == true)
    }

    @Test("a charge for an order the fleet does not know is a difference, captured or declined")
    func unknownOrder() {
        var charges = Self.books
        charges.append(ProcessorCharge(id: "ch_ghost", orderReference: "ghost", isCaptured: true, amount: 5_000))
        charges.append(ProcessorCharge(id: "ch_shadow", orderReference: "shadow", isCaptured: false, amount: 7_000))
        let report = SagaAudit.evaluate(Self.snapshot(charges))
        #expect(report.violations.map(\.invariant) == [6, 6])
        #expect(report.orderIDs == ["ghost", "shadow"])
        #expect(report.violations.allSatisfy { $0.message.contains("an order the fleet does not know") })
    }

    @Test("orders not terminal yet are left to invariant 1: their money may still be on its way")
    func openOrdersNotReconciled() {
        var snapshot = Self.snapshot(
            Self.books + [ProcessorCharge(id: "ch_open", orderReference: "open", isCaptured: true, amount: 1_000)])
        snapshot.orders.append(Facts(orderID: "open", status: "STOCK_RESERVED", total: 1_000, wasConfirmed: false))
        let report = SagaAudit.evaluate(snapshot)
        #expect(report.violations.map(\.invariant) == [1])
    }

    @Test(
        "books that could not be read are a violation of 6 about the processor; books not consulted are said so, clean")
    func unreadableOrNotConsulted() {
        var snapshot = SagaAuditTests.clean
        snapshot.processor = .unreadable("http://127.0.0.1:1: connection refused")
        let unreadable = SagaAudit.evaluate(snapshot)
        #expect(!unreadable.isClean)
        #expect(unreadable.violations.map(\.subject) == [.processor])
        #expect(unreadable.violations.first?.message.contains("could not be checked") == true)
        #expect(unreadable.reconciliation == .failed("http://127.0.0.1:1: connection refused"))

        snapshot.processor = .notConsulted("sandbox")
        let sandbox = SagaAudit.evaluate(snapshot)
        #expect(sandbox.isClean)
        #expect(sandbox.reconciliation == .notChecked("sandbox"))
    }
}
