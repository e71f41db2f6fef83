/// What ``SagaAudit`` found across the four stores: every broken invariant of docs/saga.md
/// ("Invariants") with the order, SKU or notification concerned, and what the stores hold.
public struct SagaAuditReport: Sendable, Hashable {
    /// What a violation is about.
    public enum Subject: Sendable, Hashable, Comparable, CustomStringConvertible {
        /// An order id (invariants 1, 2, 3 and 5).
        case order(String)
        /// A product id (invariant 4).
        case sku(String)
        /// A notification document without a usable `order_id` or `event_type`, by `_id` (invariant 5).
        case notification(String)
        /// The card processor as a whole: its books could not be read (invariant 6).
        case processor

        public var description: String {
            switch self {
            case .order(let id): "order \(id)"
            case .sku(let sku): "sku \(sku)"
            case .notification(let id): "notification \(id)"
            case .processor: "the card processor"
            }
        }
    }

    /// One broken invariant for one subject.
    public struct Violation: Sendable, Hashable, CustomStringConvertible {
        /// The invariant's number in docs/saga.md, 1 to 6.
        public var invariant: Int
        /// The order, SKU or notification concerned.
        public var subject: Subject
        /// What is wrong, for a person.
        public var message: String

        /// Creates a violation.
        public init(invariant: Int, subject: Subject, message: String) {
            self.invariant = invariant
            self.subject = subject
            self.message = message
        }

        /// The order id concerned, if the subject is an order.
        public var orderID: String? {
            if case .order(let id) = subject { return id }
            return nil
        }

        public var description: String { "invariant \(invariant), \(subject): \(message)" }
    }

    /// What the stores hold, for the report's reader.
    public struct Counts: Sendable, Hashable {
        /// Orders per stored status (the `orders.status` text, unknown values included).
        public var ordersByStatus: [String: Int]
        /// Reservations per status (`reservations.status`).
        public var reservationsByStatus: [String: Int]
        /// Notifications per event type (`order.confirmed` …, `payment.refunded`).
        public var notificationsByEventType: [String: Int]
        /// Orders with at least one `payment_ledger` row.
        public var ordersWithLedger: Int
        /// SKUs the inventory audit looked at.
        public var skus: Int

        /// Creates counts.
        public init(
            ordersByStatus: [String: Int] = [:], reservationsByStatus: [String: Int] = [:],
            notificationsByEventType: [String: Int] = [:], ordersWithLedger: Int = 0, skus: Int = 0
        ) {
            self.ordersByStatus = ordersByStatus
            self.reservationsByStatus = reservationsByStatus
            self.notificationsByEventType = notificationsByEventType
            self.ordersWithLedger = ordersWithLedger
            self.skus = skus
        }

        /// Every order in the orders database.
        public var orders: Int { ordersByStatus.values.reduce(0, +) }
        /// Every well-formed notification.
        public var notifications: Int { notificationsByEventType.values.reduce(0, +) }
    }

    /// Whether and how invariant 6, the reconciliation with the card processor's books, was checked.
    public enum Reconciliation: Sendable, Hashable, CustomStringConvertible {
        /// Checked against `charges` charges of the processor, which keep `kept` minor units in all.
        case checked(charges: Int, kept: Int)
        /// Not checked, on purpose, for this reason (the sandbox processor); no violation.
        case notChecked(String)
        /// The processor could not be read: reported as a violation of invariant 6.
        case failed(String)

        public var description: String {
            switch self {
            case .checked(let charges, let kept): "checked against \(charges) processor charge(s), \(kept) kept"
            case .notChecked(let reason): "not checked: \(reason)"
            case .failed(let reason): "could not be checked: \(reason)"
            }
        }
    }

    /// Every violation, sorted by invariant, then subject.
    public var violations: [Violation]
    /// What the stores hold.
    public var counts: Counts
    /// How invariant 6 was checked.
    public var reconciliation: Reconciliation

    /// Creates a report; `violations` are sorted.
    public init(
        violations: [Violation], counts: Counts,
        reconciliation: Reconciliation = .notChecked("the card processor's books were not given to the audit")
    ) {
        self.violations = violations.sorted {
            ($0.invariant, $0.subject, $0.message) < ($1.invariant, $1.subject, $1.message)
        }
        self.counts = counts
        self.reconciliation = reconciliation
    }

    /// Whether every invariant holds.
    public var isClean: Bool { violations.isEmpty }

    /// The violations of invariant `number` (1–6).
    public func violations(of number: Int) -> [Violation] { violations.filter { $0.invariant == number } }

    /// The order ids concerned by at least one violation, sorted.
    public var orderIDs: [String] { Array(Set(violations.compactMap(\.orderID))).sorted() }
}
