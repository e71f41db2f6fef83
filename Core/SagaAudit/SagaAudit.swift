import CommerceDomain
import Inventory
import Mongo
import Notifications
import Ordering
import Payments
import Postgres

/// Checks the six invariants of docs/saga.md ("Invariants") across the four stores (the orders,
/// inventory and payments PostgreSQL databases and the notifications MongoDB collection) and the
/// card processor's books, read through its API by the caller (``ProcessorBooks``). Read-only;
/// run it once the fleet is quiet (nothing in flight), or orders still on their way show up as
/// violations of invariant 1.
///
/// ``run(orders:inventory:payments:notifications:)`` reads a ``Snapshot``; ``evaluate(_:)``, pure,
/// applies the rules:
/// 1. every order is `CONFIRMED`, `CANCELLED` or `REJECTED`;
/// 2. `CONFIRMED` ⇔ net captured (captures − refunds) equals `amounts.total` and the reservation
///    is `sold` (a net charge or a sold reservation for any other order is reported here too);
/// 3. `CANCELLED` or `REJECTED` ⇒ net captured 0 and the reservation, if any, neither `reserved`
///    nor `sold`;
/// 4. ``InventoryAudit`` (stock conserved, never negative);
/// 5. exactly one notification per terminal event: `CONFIRMED` one `order.confirmed`; `REJECTED`
///    one `order.rejected`; `CANCELLED` one `order.cancelled`, plus one `order.confirmed` if it was
///    confirmed before. An order was confirmed before iff its `payment_id` is set: the order
///    worker writes it only with the `CONFIRMED` status, and the only way out of `CONFIRMED` is
///    a cancel. A tombstone (an `order.cancel` that came before its order: `content_hash` null)
///    emitted nothing, so it expects no notification. `payment.refunded` notifications are not
///    terminal events and are only checked for duplicates (``NotificationsAudit``);
/// 6. reconciliation with the card processor: per order, what the processor kept (captures −
///    refunds) is the total for `CONFIRMED` and 0 for `CANCELLED` or `REJECTED`, and it holds no
///    charge for an order the orders database does not know
///    (``reconcile(_:_:)``).
public enum SagaAudit {
    /// One order as the orders database stores it.
    public struct OrderFacts: Sendable, Hashable {
        /// `orders.order_id`.
        public var orderID: String
        /// `orders.status`, as stored (an unknown value is a violation of invariant 1).
        public var status: String
        /// `orders.amounts ->> 'total'` in minor units; `nil` when absent or not an integer.
        public var total: Int?
        /// Whether `orders.payment_id` is set: the order was confirmed at some point.
        public var wasConfirmed: Bool
        /// Whether the row is a tombstone (`content_hash` null: cancelled before it was placed).
        public var isTombstone: Bool

        /// Creates the facts of one order.
        public init(orderID: String, status: String, total: Int?, wasConfirmed: Bool, isTombstone: Bool = false) {
            self.orderID = orderID
            self.status = status
            self.total = total
            self.wasConfirmed = wasConfirmed
            self.isTombstone = isTombstone
        }
    }

    /// Everything the audit reads, as plain values.
    public struct Snapshot: Sendable, Hashable {
        /// Every order of the orders database.
        public var orders: [OrderFacts]
        /// Net captured per order id (``PaymentsAudit/netCaptured(_:)``); absent means 0.
        public var netCaptured: [String: Int]
        /// `reservations.status` per order id, as stored.
        public var reservations: [String: String]
        /// Every SKU's position (``InventoryAudit/positions(on:)``).
        public var positions: [InventoryAudit.Position]
        /// The tally of the notifications (``NotificationsAudit/audit(_:)``).
        public var notifications: NotificationsAuditReport
        /// The card processor's charges, for invariant 6.
        public var processor: ProcessorBooks

        /// Creates a snapshot.
        public init(
            orders: [OrderFacts], netCaptured: [String: Int] = [:], reservations: [String: String] = [:],
            positions: [InventoryAudit.Position] = [],
            notifications: NotificationsAuditReport = NotificationsAuditReport(counts: [:], duplicates: []),
            processor: ProcessorBooks = .notConsulted("the card processor's books were not given to the audit")
        ) {
            self.orders = orders
            self.netCaptured = netCaptured
            self.reservations = reservations
            self.positions = positions
            self.notifications = notifications
            self.processor = processor
        }
    }

    /// The `event_type` of a confirmation's notification (the message type `order.confirmed`).
    public static let confirmedEvent = "order.confirmed"
    /// The `event_type` of a cancellation's notification.
    public static let cancelledEvent = "order.cancelled"
    /// The `event_type` of a rejection's notification.
    public static let rejectedEvent = "order.rejected"
    /// The event types of terminal order events, which invariant 5 counts (the notification worker
    /// also stores `payment.refunded`, which is not one).
    public static let terminalEventTypes = [confirmedEvent, cancelledEvent, rejectedEvent]

    /// Reads the four stores and evaluates every invariant, invariant 6 against `processor` (the
    /// card processor's books, which the caller reads through the processor's API). Blocks; each
    /// connection is used on the caller's thread.
    /// - Throws: `PostgresError` or `MongoError` if a store cannot be read.
    public static func run(
        orders: PostgresConnection, inventory: PostgresConnection, payments: PostgresConnection,
        notifications: MongoCollection,
        processor: ProcessorBooks = .notConsulted("the card processor's books were not given to the audit")
    ) throws -> SagaAuditReport {
        let snapshot = Snapshot(
            orders: try orderFacts(orders), netCaptured: try PaymentsAudit.netCaptured(payments),
            reservations: try reservationStatuses(inventory), positions: try InventoryAudit.positions(on: inventory),
            notifications: try NotificationsAudit.audit(notifications), processor: processor)
        return evaluate(snapshot)
    }

    /// Every order of the orders database (`orders`).
    public static func orderFacts(_ database: PostgresConnection) throws(PostgresError) -> [OrderFacts] {
        let result = try database.query(
            """
            select order_id, status, amounts ->> 'total' as total,
                payment_id is not null as was_confirmed, content_hash is null as is_tombstone
            from orders order by order_id
            """)
        return try result.rows.map { row throws(PostgresError) in
            OrderFacts(
                orderID: try row.string("order_id"), status: try row.string("status"),
                total: try row.text("total").flatMap { Int($0) }, wasConfirmed: try row.bool("was_confirmed"),
                isTombstone: try row.bool("is_tombstone"))
        }
    }

    /// `reservations.status` per order id, from the inventory database.
    public static func reservationStatuses(_ database: PostgresConnection) throws(PostgresError) -> [String: String] {
        var statuses: [String: String] = [:]
        for row in try database.query("select order_id, status from reservations").rows {
            statuses[try row.string("order_id")] = try row.string("status")
        }
        return statuses
    }

    /// The report of `snapshot`: every invariant checked. Pure.
    public static func evaluate(_ snapshot: Snapshot) -> SagaAuditReport {
        var violations: [SagaAuditReport.Violation] = []
        func report(_ invariant: Int, _ subject: SagaAuditReport.Subject, _ message: String) {
            violations.append(SagaAuditReport.Violation(invariant: invariant, subject: subject, message: message))
        }
        let reserved = ReservationStatus.reserved.rawValue
        let sold = ReservationStatus.sold.rawValue
        var known: Set<String> = []

        for order in snapshot.orders {
            let id = order.orderID
            known.insert(id)
            let status = OrderStatus(rawValue: order.status)
            let net = snapshot.netCaptured[id] ?? 0
            let reservation = snapshot.reservations[id]
            let reservationText = reservation.map { "'\($0)'" } ?? "absent"

            // 1. Terminal.
            if status?.isTerminal != true {
                report(1, .order(id), "status is \(order.status), not CONFIRMED, CANCELLED or REJECTED")
            }

            // 2 and 3. Money and stock.
            switch status {
            case .confirmed?:
                if let total = order.total {
                    if net != total { report(2, .order(id), "CONFIRMED with net captured \(net), total \(total)") }
                } else {
                    report(2, .order(id), "CONFIRMED without an integer amounts.total (net captured \(net))")
                }
                if reservation != sold { report(2, .order(id), "CONFIRMED but its reservation is \(reservationText)") }
            case .cancelled?, .rejected?:
                if net != 0 { report(3, .order(id), "\(order.status) with net captured \(net)") }
                if reservation == reserved || reservation == sold {
                    report(3, .order(id), "\(order.status) but its reservation is \(reservationText)")
                }
            case .pending?, .stockReserved?, nil:
                // Not terminal (reported above); only what no open order may have yet.
                if reservation == sold { report(2, .order(id), "\(order.status) but its reservation is 'sold'") }
            }

            // 5. Terminal notifications.
            var expected: [String: Int] = [:]
            switch status {
            case .confirmed?: expected[confirmedEvent] = 1
            case .rejected?: expected[rejectedEvent] = 1
            case .cancelled? where !order.isTombstone:
                expected[cancelledEvent] = 1
                if order.wasConfirmed { expected[confirmedEvent] = 1 }
            default: break
            }
            for type in terminalEventTypes {
                let count =
                    snapshot.notifications.counts[NotificationsAuditReport.Key(orderID: id, eventType: type)] ?? 0
                let want = expected[type] ?? 0
                if count != want {
                    let kind = order.isTombstone ? "\(order.status) (tombstone)" : order.status
                    report(5, .order(id), "\(kind) has \(count) '\(type)' notification(s), expected \(want)")
                }
            }
        }

        // Other stores' records of orders the orders database does not know.
        for (id, net) in snapshot.netCaptured where !known.contains(id) && net != 0 {
            report(2, .order(id), "net captured \(net) for an order not in the orders database")
        }
        for (id, status) in snapshot.reservations where !known.contains(id) {
            if status == sold { report(2, .order(id), "reservation 'sold' for an order not in the orders database") }
            if status == reserved {
                report(3, .order(id), "reservation 'reserved' for an order not in the orders database")
            }
        }

        // 4. Stock.
        for violation in InventoryAudit.violations(in: snapshot.positions) {
            report(4, .sku(violation.sku), violation.problem)
        }

        // 5. Notifications without an order, duplicates of other events, malformed documents.
        let terminalTypes = Set(terminalEventTypes)
        for (key, count) in snapshot.notifications.counts
        where !known.contains(key.orderID) && terminalTypes.contains(key.eventType) {
            report(
                5, .order(key.orderID),
                "\(count) '\(key.eventType)' notification(s) for an order not in the orders database")
        }
        for duplicate in snapshot.notifications.duplicates where !terminalTypes.contains(duplicate.key.eventType) {
            report(
                5, .order(duplicate.key.orderID),
                "\(duplicate.count) '\(duplicate.key.eventType)' notifications (\(duplicate.messageIDs.joined(separator: ", ")))"
            )
        }
        for id in snapshot.notifications.malformedIDs {
            report(5, .notification(id), "no string order_id or event_type")
        }

        var counts = SagaAuditReport.Counts(
            ordersWithLedger: snapshot.netCaptured.count, skus: snapshot.positions.count)
        for order in snapshot.orders { counts.ordersByStatus[order.status, default: 0] += 1 }
        for status in snapshot.reservations.values { counts.reservationsByStatus[status, default: 0] += 1 }
        for (key, count) in snapshot.notifications.counts {
            counts.notificationsByEventType[key.eventType, default: 0] += count
        }
        // 6. The card processor's books.
        let reconciliation = reconcile(snapshot.orders, snapshot.processor)
        violations += reconciliation.violations
        return SagaAuditReport(
            violations: violations, counts: counts, reconciliation: reconciliation.reconciliation)
    }
}
