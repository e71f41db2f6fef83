/// What `commerce-lab chaos` found, as `--json` prints it and chaos.json holds it (docs/chaos.md).
struct ChaosReport: Encodable {
    var fleet: String
    var shape: SagaFleet.Shape
    var seed: UInt64
    var orders: Int
    var rate: Double
    /// Orders published (each confirmed by the broker).
    var placed: Int
    /// Placed orders that ended CONFIRMED, CANCELLED or REJECTED in the orders database.
    var terminal: Int
    /// Placed orders by status in the orders database.
    var statuses: [String: Int]
    /// Placed orders not terminal after the drain (absent or still open).
    var lost: [String]
    /// Effects found twice (a second capture, refund or stock movement for one order).
    var duplicatedEffects: [String]
    /// Every dead letter, by reason (`x-error-reason`, or the broker's `x-death`).
    var deadLetters: [String: Int]
    /// Dead letters that are the hostile messages published on purpose.
    var hostileDeadLetters: Int
    /// Dead letters that are not: each is something the fleet gave up on.
    var unexpectedDeadLetters: [String]
    /// Hostile messages that should be dead letters and are not.
    var missingHostileDeadLetters: [String]
    var faults: [ChaosRun.FaultRecord]
    var plannedKills: [String]
    /// Processes that died without being killed (each was started again).
    var unplannedExits: [String]
    /// Orders paid with a slow charge and cancelled by the customer while it was in flight.
    var racingCancels: Int
    /// How those orders ended, by status (each must be CANCELLED, with nothing kept by the processor).
    var racingCancelOutcomes: [String: Int]
    /// What the processor did with their charges (`captured, refunded`, `never charged` …; empty
    /// with the sandbox).
    var racingCancelCharges: [String: Int]
    /// How invariant 6, the reconciliation with the card processor's books, was checked.
    var reconciliation: String
    var publisherReconnections: Int
    var auditClean: Bool
    var auditViolations: [String]
    var seconds: Double

    /// The run passed: nothing lost, nothing doubled, no unexpected dead letter, every hostile
    /// message dead-lettered, no crash but those caused on purpose, the audit clean (the
    /// reconciliation with the processor included), every racing cancel CANCELLED.
    var passed: Bool {
        lost.isEmpty && duplicatedEffects.isEmpty && unexpectedDeadLetters.isEmpty && missingHostileDeadLetters.isEmpty
            && unplannedExits.isEmpty && auditClean && faults.allSatisfy(\.ok)
            && racingCancelOutcomes.keys.allSatisfy { $0 == "CANCELLED" }
    }

    /// The one line: placed, terminal, lost, duplicated, dead letters by class, invariants.
    var line: String {
        let letters = deadLetters.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
            .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return "chaos: placed \(placed), terminal \(terminal), lost \(lost.count), duplicated effects "
            + "\(duplicatedEffects.count), dead letters \(deadLetters.values.reduce(0, +)) (\(letters.isEmpty ? "none" : letters); "
            + "unexpected \(unexpectedDeadLetters.count)), unplanned crashes \(unplannedExits.count) "
            + "(\(plannedKills.count) planned), racing cancels \(racingCancels), invariants \(auditClean ? "OK" : "FAILED")"
            + (reconciliation.hasPrefix("checked") ? "" : " (reconciliation \(reconciliation))")
            + (passed ? "" : " → FAILED")
    }
}
