import Inventory
import Notifications
import SagaAudit
import Testing

/// The cross-store audit's rules (docs/saga.md, "Invariants") over plain values: ``SagaAudit/evaluate(_:)``.
@Suite("SagaAudit")
struct SagaAuditTests {
    typealias Facts = SagaAudit.OrderFacts

    static func notifications(_ entries: [(String, String, Int)], malformed: [String] = [])
        -> NotificationsAuditReport
    {
        var counts: [NotificationsAuditReport.Key: Int] = [:]
        var duplicates: [NotificationsAuditReport.Duplicate] = []
        for (order, type, count) in entries {
            let key = NotificationsAuditReport.Key(orderID: order, eventType: type)
            counts[key] = count
            if count > 1 {
                duplicates.append(
                    NotificationsAuditReport.Duplicate(
                        key: key, count: count, messageIDs: (1...count).map { "m-\(order)-\($0)" }))
            }
        }
        return NotificationsAuditReport(
            counts: counts, duplicates: duplicates.sorted { $0.key < $1.key }, malformedIDs: malformed)
    }

    /// One keyboard of 10 sold: conserved.
    static let keyboard = InventoryAudit.Position(
        sku: "KB-001", available: 9, reserved: 0, sold: 1, movements: [.adjust: 10, .reserve: 1, .sell: 1],
        heldByReservations: 0, soldByReservations: 1)

    /// Every path of the saga, settled.
    static let clean = SagaAudit.Snapshot(
        orders: [
            Facts(orderID: "confirmed", status: "CONFIRMED", total: 63_000, wasConfirmed: true),
            Facts(orderID: "out-of-stock", status: "CANCELLED", total: 83_000, wasConfirmed: false),
            Facts(orderID: "declined", status: "CANCELLED", total: 63_000, wasConfirmed: false),
            Facts(orderID: "cancelled-later", status: "CANCELLED", total: 123_000, wasConfirmed: true),
            Facts(orderID: "invalid", status: "REJECTED", total: nil, wasConfirmed: false),
            Facts(orderID: "tombstone", status: "CANCELLED", total: nil, wasConfirmed: false, isTombstone: true),
        ],
        netCaptured: ["confirmed": 63_000, "declined": 0, "cancelled-later": 0],
        reservations: [
            "confirmed": "sold", "out-of-stock": "rejected", "declined": "released", "cancelled-later": "released",
            "tombstone": "cancelled",
        ],
        positions: [keyboard],
        notifications: notifications([
            ("confirmed", "order.confirmed", 1), ("out-of-stock", "order.cancelled", 1),
            ("declined", "order.cancelled", 1), ("cancelled-later", "order.confirmed", 1),
            ("cancelled-later", "order.cancelled", 1), ("cancelled-later", "payment.refunded", 1),
            ("invalid", "order.rejected", 1),
        ]))

    @Test("every path settled: clean, with the counts")
    func clean() {
        let report = SagaAudit.evaluate(Self.clean)
        #expect(report.isClean, "\(report.violations)")
        #expect(report.counts.orders == 6)
        #expect(report.counts.ordersByStatus == ["CONFIRMED": 1, "CANCELLED": 4, "REJECTED": 1])
        #expect(report.counts.reservationsByStatus == ["sold": 1, "rejected": 1, "released": 2, "cancelled": 1])
        #expect(report.counts.notificationsByEventType["payment.refunded"] == 1)
        #expect(report.counts.notifications == 7)
        #expect(report.counts.skus == 1)
        #expect(report.counts.ordersWithLedger == 3)
    }

    @Test("1: an order still open, or in a status nobody writes")
    func notTerminal() {
        var snapshot = Self.clean
        snapshot.orders += [
            Facts(orderID: "open", status: "STOCK_RESERVED", total: 1_000, wasConfirmed: false),
            Facts(orderID: "odd", status: "SHIPPED", total: 1_000, wasConfirmed: false),
        ]
        snapshot.reservations["open"] = "reserved"
        let report = SagaAudit.evaluate(snapshot)
        #expect(report.violations.map(\.invariant) == [1, 1])
        #expect(report.orderIDs == ["odd", "open"])
    }

    @Test("2: CONFIRMED with a wrong net, no total, or stock not sold")
    func confirmed() {
        var snapshot = Self.clean
        snapshot.netCaptured["confirmed"] = 60_000
        snapshot.reservations["confirmed"] = "reserved"
        snapshot.orders.append(Facts(orderID: "no-total", status: "CONFIRMED", total: nil, wasConfirmed: true))
        snapshot.notifications = Self.notifications(
            Self.clean.notifications.counts.map { ($0.key.orderID, $0.key.eventType, $0.value) }
                + [("no-total", "order.confirmed", 1)])
        let report = SagaAudit.evaluate(snapshot)
        #expect(report.violations.allSatisfy { $0.invariant == 2 }, "\(report.violations)")
        #expect(report.violations(of: 2).filter { $0.orderID == "confirmed" }.count == 2)
        #expect(report.violations(of: 2).filter { $0.orderID == "no-total" }.count == 2)
    }

    @Test("3: CANCELLED or REJECTED with a net charge or stock held or sold")
    func notConfirmed() {
        var snapshot = Self.clean
        snapshot.netCaptured["cancelled-later"] = 123_000
        snapshot.reservations["declined"] = "reserved"
        snapshot.reservations["invalid"] = "sold"
        let report = SagaAudit.evaluate(snapshot)
        #expect(report.violations.map(\.invariant) == [3, 3, 3])
        #expect(report.orderIDs == ["cancelled-later", "declined", "invalid"])
    }

    @Test("2 and 3: a charge or a reservation for an order the orders database does not know")
    func unknownOrders() {
        var snapshot = Self.clean
        snapshot.netCaptured["ghost"] = 5_000
        snapshot.netCaptured["refunded-ghost"] = 0
        snapshot.reservations["held-ghost"] = "reserved"
        snapshot.reservations["released-ghost"] = "released"
        let report = SagaAudit.evaluate(snapshot)
        #expect(report.violations.map(\.invariant) == [2, 3])
        #expect(report.orderIDs == ["ghost", "held-ghost"])
    }

    @Test("4: the inventory audit's findings, by SKU")
    func stock() {
        var snapshot = Self.clean
        var broken = Self.keyboard
        broken.available = 8
        snapshot.positions = [broken]
        let report = SagaAudit.evaluate(snapshot)
        #expect(!report.violations.isEmpty)
        #expect(report.violations.allSatisfy { $0.invariant == 4 && $0.subject == .sku("KB-001") })
        #expect(report.orderIDs.isEmpty)
    }

    @Test("5: missing, duplicated, unexpected, orphan and malformed notifications")
    func notifications() {
        var snapshot = Self.clean
        snapshot.notifications = Self.notifications(
            [
                ("confirmed", "order.confirmed", 2),  // duplicated
                // out-of-stock: its order.cancelled is missing
                ("declined", "order.cancelled", 1), ("declined", "order.confirmed", 1),  // never confirmed
                ("cancelled-later", "order.cancelled", 1),  // its earlier order.confirmed is missing
                ("cancelled-later", "payment.refunded", 2),  // a refund notified twice
                ("invalid", "order.rejected", 1),
                ("tombstone", "order.cancelled", 1),  // a tombstone emitted nothing
                ("ghost", "order.confirmed", 1),  // no such order
                ("ghost", "payment.refunded", 1),  // not a terminal event: not counted
            ], malformed: ["m-bad"])
        let report = SagaAudit.evaluate(snapshot)
        #expect(report.violations.allSatisfy { $0.invariant == 5 }, "\(report.violations)")
        #expect(
            Set(report.violations.map(\.subject)) == [
                .order("confirmed"), .order("out-of-stock"), .order("declined"), .order("cancelled-later"),
                .order("tombstone"), .order("ghost"), .notification("m-bad"),
            ])
        #expect(report.violations.filter { $0.orderID == "cancelled-later" }.count == 2)
        #expect(report.violations.filter { $0.orderID == "ghost" }.count == 1)
    }
}
