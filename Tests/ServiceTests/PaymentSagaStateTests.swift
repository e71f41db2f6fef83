import Testing

@testable import Payments

/// Every (row status, preparation) pair of the payment worker's decisions, for both messages it
/// handles and for the refund sweeper: what it writes, what it emits, or why the message fails
/// (docs/saga.md, payment-worker). A table per decision: one row per status the order's `payments`
/// row can have (none included), one column per answer the processor can bring.
@Suite("Payments: the decision for every row status and preparation")
struct PaymentSagaStateTests {
    /// The preparations, in the tables' column order.
    static let preparations: [(name: String, prepared: PaymentPreparation)] = [
        ("captured", .charge(.captured(paymentID: "ch_1"))),
        ("declined", .charge(.declined(code: "card_declined", message: "The card was declined."))),
        ("cancelledBeforeCharge", .cancelledBeforeCharge),
        ("capturedAfterCancel", .capturedAfterCancel(paymentID: "ch_1")),
        ("refunded", .refund(paymentID: "ch_1", .refunded(refundID: "re_1", amount: 9_000))),
        ("refused", .refund(paymentID: "ch_1", .refused(code: "amount_exceeds_capture", message: "too much"))),
        ("nothingCaptured", .nothingCaptured),
        ("none", .none),
    ]

    /// A decision as the tables write it: its steps separated by spaces, `fail(class reason)`, or
    /// `-` for nothing.
    static func describe(_ decision: PaymentSagaState.Decision) -> String {
        switch decision {
        case .fail(let failureClass, let reason, _): return "fail(\(failureClass.rawValue) \(reason))"
        case .steps(let steps) where steps.isEmpty: return "-"
        case .steps(let steps):
            return steps.map { step -> String in
                switch step {
                case .insert(let status): "insert(\(status.rawValue))"
                case .setStatus(let status): "set(\(status.rawValue))"
                case .noteCancelReason: "noteReason"
                case .postpone: "postpone"
                case .recheckLater: "recheckLater"
                case .ledger(let kind): "ledger(\(kind.rawValue))"
                case .warnRefundDue: "warn"
                case .logRefundOwedMade: "logMade"
                case .logRefundOwedRefused: "logRefused"
                case .emitSucceeded: "emit(succeeded)"
                case .emitFailed: "emit(failed)"
                case .emitRefunded: "emit(refunded)"
                }
            }.joined(separator: " ")
        }
    }

    /// Checks `decide` against `table` (status → one expectation per preparation).
    private func check(
        _ table: [(PaymentRecord.Status?, [String])],
        _ decide: (PaymentRecord.Status?, PaymentPreparation) -> PaymentSagaState.Decision
    ) {
        #expect(table.count == 6, "every status and none")
        for (status, expected) in table {
            #expect(expected.count == Self.preparations.count)
            for ((name, prepared), want) in zip(Self.preparations, expected) {
                let got = Self.describe(decide(status, prepared))
                #expect(got == want, "status \(status?.rawValue ?? "none"), prepared \(name)")
            }
        }
    }

    @Test(
        "stock.reserved: charge recorded once; a capture for a cancelled order is owed back; anything else changes nothing"
    )
    func stockReserved() {
        let unexpected = "fail(permanent unexpected_preparation)"
        let owed = "warn set(refund_due) ledger(capture)"
        check(
            [
                // captured | declined | cancelledBeforeCharge | capturedAfterCancel | refunded | refused | nothingCaptured | none
                (
                    nil,
                    [
                        "insert(captured) ledger(capture) emit(succeeded)", "insert(declined) emit(failed)",
                        "insert(cancelled)", "warn insert(refund_due) ledger(capture)", unexpected, unexpected,
                        unexpected, unexpected,
                    ]
                ),
                (.cancelled, [owed, "-", "-", owed, "-", "-", "-", "-"]),
                (.captured, Array(repeating: "-", count: 8)),
                (.declined, Array(repeating: "-", count: 8)),
                (.refunded, Array(repeating: "-", count: 8)),
                (.refundDue, Array(repeating: "-", count: 8)),
            ], PaymentSagaState.reserved(record:prepared:))
    }

    @Test("order.cancelled: a capture is refunded once; the tombstone otherwise; a refusal needs a person")
    func orderCancelled() {
        let refund = "set(refunded) ledger(refund) emit(refunded)"
        let refused = "fail(permanent refund_refused)"
        let notPrepared = "fail(transient refund_not_prepared)"
        check(
            [
                // captured | declined | cancelledBeforeCharge | capturedAfterCancel | refunded | refused | nothingCaptured | none
                (
                    nil,
                    [
                        "insert(cancelled)", "insert(cancelled)", "insert(cancelled)", "insert(cancelled)",
                        "insert(refunded) ledger(capture) ledger(refund) emit(refunded)", refused,
                        "insert(cancelled)", "insert(cancelled)",
                    ]
                ),
                (
                    .captured,
                    [notPrepared, notPrepared, notPrepared, notPrepared, refund, refused, notPrepared, notPrepared]
                ),
                (
                    .refundDue,
                    [
                        "noteReason", "noteReason", "noteReason", "noteReason", refund, refused, "noteReason",
                        "noteReason",
                    ]
                ),
                (.declined, Array(repeating: "-", count: 8)),
                (.refunded, Array(repeating: "-", count: 8)),
                (.cancelled, Array(repeating: "-", count: 8)),
            ], PaymentSagaState.cancelled(record:prepared:))
    }

    @Test(
        "refund sweeper: a refund owed is recorded and announced once; a refusal waits for a person, behind the others")
    func refundOwed() {
        let answers: [RefundResult] = [
            .refunded(refundID: "re_1", amount: 9_000), .refused(code: "amount_exceeds_capture", message: "too much"),
        ]
        // refunded | refused
        let table: [(PaymentRecord.Status?, [String])] = [
            (.refundDue, ["set(refunded) ledger(refund) emit(refunded) logMade", "logRefused postpone"]),
            (nil, ["-", "-"]),
            (.captured, ["-", "-"]),
            (.declined, ["-", "-"]),
            (.refunded, ["-", "-"]),
            (.cancelled, ["-", "-"]),
        ]
        for (status, expected) in table {
            for (answer, want) in zip(answers, expected) {
                let got = Self.describe(PaymentSagaState.refundOwed(record: status, refund: answer))
                #expect(got == want, "status \(status?.rawValue ?? "none"), answer \(answer)")
            }
        }
    }

    @Test("tombstone recheck: a capture found late is owed back; none found is looked for again; only tombstones")
    func tombstoneRechecked() {
        let answers: [ChargeResult?] = [
            .captured(paymentID: "ch_1"), .declined(code: "card_declined", message: "The card was declined."), nil,
        ]
        let owed = "warn set(refund_due) ledger(capture)"
        // captured | declined | none
        let table: [(PaymentRecord.Status?, [String])] = [
            (.cancelled, [owed, "recheckLater", "recheckLater"]),
            (nil, ["-", "-", "-"]),
            (.captured, ["-", "-", "-"]),
            (.declined, ["-", "-", "-"]),
            (.refunded, ["-", "-", "-"]),
            (.refundDue, ["-", "-", "-"]),
        ]
        for (status, expected) in table {
            for (answer, want) in zip(answers, expected) {
                let got = Self.describe(PaymentSagaState.tombstoneRechecked(record: status, found: answer))
                #expect(got == want, "status \(status?.rawValue ?? "none"), found \(String(describing: answer))")
            }
        }
    }
}
