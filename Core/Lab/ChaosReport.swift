/// What `commerce-lab chaos` found, as `--json` prints it and chaos.json holds it (docs/chaos.md).
public struct ChaosReport: Encodable {
    public var fleet: String
    public var shape: SagaFleet.Shape
    public var seed: UInt64
    public var orders: Int
    public var rate: Double
    /// Orders published (each confirmed by the broker).
    public var placed: Int
    /// Placed orders that ended CONFIRMED, CANCELLED or REJECTED in the orders database.
    public var terminal: Int
    /// Placed orders by status in the orders database.
    public var statuses: [String: Int]
    /// Placed orders not terminal after the drain (absent or still open).
    public var lost: [String]
    /// Effects found twice (a second capture, refund or stock movement for one order).
    public var duplicatedEffects: [String]
    /// Every dead letter, by reason (`x-error-reason`, or the broker's `x-death`).
    public var deadLetters: [String: Int]
    /// Dead letters that are the hostile messages published on purpose.
    public var hostileDeadLetters: Int
    /// Dead letters that are not: each is something the fleet gave up on.
    public var unexpectedDeadLetters: [String]
    /// Hostile messages that should be dead letters and are not.
    public var missingHostileDeadLetters: [String]
    public var faults: [ChaosRun.FaultRecord]
    public var plannedKills: [String]
    /// Processes that died without being killed (each was started again).
    public var unplannedExits: [String]
    /// Orders paid with a slow charge and cancelled by the customer while it was in flight.
    public var racingCancels: Int
    /// How those orders ended, by status (each must be CANCELLED, with nothing kept by the processor).
    public var racingCancelOutcomes: [String: Int]
    /// What the processor did with their charges (`captured, refunded`, `never charged` …; empty
    /// with the sandbox).
    public var racingCancelCharges: [String: Int]
    /// How invariant 6, the reconciliation with the card processor's books, was checked.
    public var reconciliation: String
    public var publisherReconnections: Int
    public var auditClean: Bool
    public var auditViolations: [String]
    public var seconds: Double

    /// The run passed: nothing lost, nothing doubled, no unexpected dead letter, every hostile
    /// message dead-lettered, no crash but those caused on purpose, the audit clean (the
    /// reconciliation with the processor included), every racing cancel CANCELLED.
    public var passed: Bool {
        lost.isEmpty && duplicatedEffects.isEmpty && unexpectedDeadLetters.isEmpty && missingHostileDeadLetters.isEmpty
            && unplannedExits.isEmpty && auditClean && faults.allSatisfy(\.ok)
            && racingCancelOutcomes.keys.allSatisfy { $0 == "CANCELLED" }
    }

    /// The one line: placed, terminal, lost, duplicated, dead letters by class, invariants.
    public var line: String {
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
