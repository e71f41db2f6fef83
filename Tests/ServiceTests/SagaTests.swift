import CommerceDomain
import CommerceMessages
import CommerceTestKit
import Foundation
import Inventory
import Logging
import Mongo
import Notifications
import Ordering
import Payments
import PaymentsHTTP
import Postgres
import SagaAudit
import Testing

/// The whole fleet: the four saga workers as processes, each with its own store, one exchange,
/// orders published as an upstream would, and the invariants of docs/saga.md checked across
/// every store at the end.
@Suite("Saga end to end")
struct SagaTests {
    static let mongoURL = TestServers.mongoURL

    private let saga = SagaDriver()

    /// Waits until `sku`'s (available, reserved, sold) are `expected` (compensations trail events).
    private func waitForStock(_ fixture: ServiceFixture, _ sku: String, _ expected: [Int64]) throws {
        let inventory = try TestServers.postgres(url: try fixture.databaseURL(for: "inventory"))
        try waitUntil(
            "\(sku) at available, reserved, sold = \(expected)",
            { () throws -> [Int64] in
                let row = try inventory.query(
                    "select available, reserved, sold from stock where sku = $1", [.text(sku)]
                ).rows[0]
                return [try row.int("available"), try row.int("reserved"), try row.int("sold")]
            }
        ) { $0 == expected }
    }

    @Test("happy path, out of stock, declined, transient failures, invalid, and a cancel after confirmation")
    func everyPath() throws {
        let (fixture, _) = try saga.startFleet(stock: [
            StockSeed(sku: "KB-001", quantity: 10), StockSeed(sku: "MS-001", quantity: 1),
        ])
        defer { try? MongoClient(uri: Self.mongoURL).dropDatabase(fixture.mongoDatabase) }
        let happy = saga.order([("KB-001", 1, 60_000)])
        let outOfStock = saga.order([("KB-001", 1, 60_000), ("MS-001", 2, 10_000)])
        let declined = saga.order([("KB-001", 1, 60_000)], token: "tok_decline")
        let transient = saga.order([("KB-001", 1, 60_000)], token: "tok_transient_2")
        let invalid = saga.order([])
        let cancelledLater = saga.order([("KB-001", 2, 60_000)])
        let all = [happy, outOfStock, declined, transient, invalid, cancelledLater]
        for command in all { try fixture.publish(command) }
        var events = try saga.terminalEvents(fixture, count: all.count)

        func terminal(_ command: PlaceOrder) -> AnyMessage? { events[command.orderID]?.last }
        for command in [happy, transient, cancelledLater] {
            guard case .orderConfirmed? = terminal(command) else {
                Issue.record(
                    "\(command.orderID): expected order.confirmed, got \(String(describing: events[command.orderID]))")
                continue
            }
        }
        if case .orderCancelled(let cancelled)? = terminal(outOfStock) {
            #expect(cancelled.reason == .outOfStock)
        } else {
            Issue.record("out of stock: \(String(describing: events[outOfStock.orderID]))")
        }
        if case .orderCancelled(let cancelled)? = terminal(declined) {
            #expect(cancelled.reason == .paymentDeclined)
        } else {
            Issue.record("declined: \(String(describing: events[declined.orderID]))")
        }
        if case .orderRejected? = terminal(invalid) {
        } else {
            Issue.record("invalid: \(String(describing: events[invalid.orderID]))")
        }

        // The customer cancels after confirmation: refund and restock.
        try fixture.publish(CancelOrder(orderID: cancelledLater.orderID, reason: "changed my mind"))
        events = try saga.terminalEvents(fixture, count: 1)
        if case .orderCancelled(let cancelled)? = events[cancelledLater.orderID]?.last {
            #expect(cancelled.reason == .customerRequest)
            #expect(cancelled.previousStatus == .confirmed)
        } else {
            Issue.record("cancel after confirmation: \(String(describing: events[cancelledLater.orderID]))")
        }

        // Invariants across the stores, once the compensations have settled.
        let orders = try TestServers.postgres(url: try fixture.databaseURL(for: "orders"))
        let inventory = try TestServers.postgres(url: try fixture.databaseURL(for: "inventory"))
        let payments = try TestServers.postgres(url: try fixture.databaseURL(for: "payments"))
        let statuses = try OrdersAudit.statuses(orders)
        #expect(statuses[happy.orderID] == .confirmed)
        #expect(statuses[transient.orderID] == .confirmed)
        #expect(statuses[outOfStock.orderID] == .cancelled)
        #expect(statuses[declined.orderID] == .cancelled)
        #expect(statuses[cancelledLater.orderID] == .cancelled)
        #expect(statuses[invalid.orderID] == .rejected)
        let totals = Dictionary(
            uniqueKeysWithValues: try orders.query(
                "select order_id, coalesce((amounts->>'total')::bigint, 0) as total from orders"
            )
            .rows.map { (try $0.string("order_id"), Int(try $0.int("total"))) })
        try waitUntil(
            "the refund and the restock", timeout: .seconds(30),
            {
                (
                    try PaymentsAudit.netCaptured(payments)[cancelledLater.orderID] ?? -1,
                    try inventory.query("select sold from stock where sku = 'KB-001'").rows[0].int("sold")
                )
            }
        ) { $0.0 == 0 && $0.1 == 2 }
        let net = try PaymentsAudit.netCaptured(payments)
        #expect(net[happy.orderID] == totals[happy.orderID])
        #expect(net[transient.orderID] == totals[transient.orderID])
        for command in [outOfStock, declined, cancelledLater, invalid] {
            #expect((net[command.orderID] ?? 0) == 0, "no net charge for \(command.orderID)")
        }
        let stock = try inventory.query("select sku, available, reserved, sold from stock order by sku").rows
        let bySKU = Dictionary(
            uniqueKeysWithValues: try stock.map {
                (try $0.string("sku"), [try $0.int("available"), try $0.int("reserved"), try $0.int("sold")])
            })
        #expect(bySKU["KB-001"] == [8, 0, 2], "two keyboards sold (happy, transient), the rest back")
        #expect(bySKU["MS-001"] == [1, 0, 0])
        #expect(try InventoryAudit.run(on: inventory).isEmpty)

        // One notification per terminal event (7) and one for the refund.
        let client = try MongoClient(uri: Self.mongoURL)
        let notifications = client.collection("notifications", in: fixture.mongoDatabase)
        try waitUntil("8 notifications", timeout: .seconds(30), { try notifications.countDocuments() }) { $0 >= 8 }
        let report = try NotificationsAudit.audit(notifications)
        #expect(report.isClean, "\(report)")
        #expect(try notifications.countDocuments() == 8)
        for worker in ["order-worker", "stock-worker", "payment-worker", "notification-worker"] {
            #expect(try fixture.deadLetters(of: worker).isEmpty, "\(worker) dead-lettered nothing")
        }
        let audit = try SagaAudit.run(
            orders: orders, inventory: inventory, payments: payments, notifications: notifications)
        #expect(audit.isClean, "\(audit.violations)")
    }

    @Test("two copies of every worker and 300 orders for 100 units: never oversold, every order ends, audit clean")
    func competingCopies() throws {
        let (fixture, _) = try saga.startFleet(stock: [StockSeed(sku: "KB-001", quantity: 100)], copies: 2)
        defer { try? MongoClient(uri: Self.mongoURL).dropDatabase(fixture.mongoDatabase) }
        let orders = (0..<300).map { _ in saga.order([("KB-001", 1, 30_000)]) }
        for command in orders { try fixture.publish(command) }
        let events = try saga.terminalEvents(fixture, count: orders.count)
        var confirmed = 0
        var outOfStock = 0
        for command in orders {
            switch events[command.orderID]?.last {
            case .orderConfirmed?: confirmed += 1
            case .orderCancelled(let cancelled)? where cancelled.reason == .outOfStock: outOfStock += 1
            default: Issue.record("\(command.orderID) ended with \(String(describing: events[command.orderID]))")
            }
        }
        #expect(confirmed == 100)
        #expect(outOfStock == 200)
        let report = try saga.auditSettled(fixture)
        #expect(report.isClean, "\(report.violations)")
        let inventory = try TestServers.postgres(url: try fixture.databaseURL(for: "inventory"))
        let row = try inventory.query("select available, reserved, sold from stock where sku = 'KB-001'").rows[0]
        #expect([try row.int("available"), try row.int("reserved"), try row.int("sold")] == [0, 0, 100])
    }

    @Test("a stock-worker and an order-worker SIGKILLed mid-run and restarted: nothing lost or doubled")
    func killedMidRun() throws {
        let (fixture, settings) = try saga.startFleet(stock: [StockSeed(sku: "KB-001", quantity: 1_000)])
        defer { try? MongoClient(uri: Self.mongoURL).dropDatabase(fixture.mongoDatabase) }
        let orders = (0..<200).map { index in
            saga.order([("KB-001", 1, 30_000)], token: index % 10 == 0 ? "tok_decline" : "tok_approve")
        }
        for command in orders.prefix(100) { try fixture.publish(command) }
        // Kill both while the first hundred are in flight, publish the rest, then restart them.
        let stock = fixture.workers.first { $0.process.logURL.lastPathComponent.hasPrefix("stock-worker") }
        let ordering = fixture.workers.first { $0.process.logURL.lastPathComponent.hasPrefix("order-worker") }
        stock?.kill9()
        ordering?.kill9()
        for command in orders.dropFirst(100) { try fixture.publish(command) }
        try fixture.startWorker("stock-worker", settings["stock-worker"]!)
        try fixture.startWorker("order-worker", settings["order-worker"]!)
        try saga.expectEnded(orders: orders, in: fixture)
        let report = try saga.auditSettled(fixture)
        #expect(report.isClean, "\(report.violations)")
    }

    @Test("a customer cancel before confirmation: nothing charged, stock released, audit clean")
    func cancelBeforeConfirmation() throws {
        // One attempt per gateway call: the two failures go through the runtime's retry delays.
        let (fixture, _) = try saga.startFleet(
            stock: [StockSeed(sku: "KB-001", quantity: 10)],
            extra: ["payment-worker": ["PAYMENT_HTTP_MAX_ATTEMPTS": "1"]])
        defer { try? MongoClient(uri: Self.mongoURL).dropDatabase(fixture.mongoDatabase) }
        // The card fails twice first, so the charge cannot succeed before the cancel is handled.
        let command = saga.order([("KB-001", 2, 60_000)], token: "tok_transient_2")
        try fixture.publish(command)
        try fixture.publish(CancelOrder(orderID: command.orderID, reason: "found it cheaper"))
        let events = try saga.terminalEvents(fixture, count: 1)
        guard case .orderCancelled(let cancelled)? = events[command.orderID]?.last else {
            Issue.record("expected order.cancelled, got \(String(describing: events[command.orderID]))")
            return
        }
        #expect(cancelled.reason == .customerRequest)
        #expect(cancelled.previousStatus == .pending)
        let report = try saga.auditSettled(fixture)
        #expect(report.isClean, "\(report.violations)")
        let payments = try TestServers.postgres(url: try fixture.databaseURL(for: "payments"))
        #expect(try PaymentsAudit.netCaptured(payments)[command.orderID] ?? 0 == 0)
        try waitForStock(fixture, "KB-001", [10, 0, 0])
    }

    @Test("an order whose payment never completes is cancelled at its deadline and compensated")
    func sagaTimeout() throws {
        let (fixture, _) = try saga.startFleet(
            stock: [StockSeed(sku: "KB-001", quantity: 10)],
            extra: ["order-worker": ["SAGA_DEADLINE_MS": "3000", "SAGA_SWEEP_INTERVAL_MS": "200"]])
        defer { try? MongoClient(uri: Self.mongoURL).dropDatabase(fixture.mongoDatabase) }
        // The card fails on every attempt: the payment-worker dead-letters stock.reserved after
        // its retries, and the order stays PENDING until the sweeper cancels it.
        let command = saga.order([("KB-001", 3, 60_000)], token: "tok_transient_99")
        try fixture.publish(command)
        let events = try saga.terminalEvents(fixture, count: 1)
        guard case .orderCancelled(let cancelled)? = events[command.orderID]?.last else {
            Issue.record("expected order.cancelled, got \(String(describing: events[command.orderID]))")
            return
        }
        #expect(cancelled.reason == .timeout)
        let report = try saga.auditSettled(fixture)
        #expect(report.isClean, "\(report.violations)")
        try waitForStock(fixture, "KB-001", [10, 0, 0])
        let letters = try fixture.deadLetters(of: "payment-worker")
        #expect(letters.count == 1, "the charge that kept failing is parked with its reason")
        #expect(letters.first?.properties.headers["x-error-reason"]?.stringValue == "retries_exhausted")
    }
}
