import CommerceDomain
import CommerceMessages
import CommerceTestKit
import Foundation
import Postgres
import Testing
import WorkerRuntime

/// The order-worker as a process against real servers (docs/saga.md): validation and pricing,
/// idempotency by order id, and its part of the saga.
@Suite("Order worker")
struct OrderWorkerTests {

    /// A fixture watching the order-worker's events, with the worker started on the repository's
    /// pricing and coupons (absolute paths: the worker runs in a directory of its own).
    private func start(_ environment: [String: String] = [:]) throws -> ServiceFixture {
        let fixture = try ServiceFixture(watching: [.orderPlaced, .orderRejected, .orderConfirmed, .orderCancelled])
        try fixture.startWorker("order-worker", environment)
        return fixture
    }

    @Test("an order not terminal by its deadline is cancelled with reason timeout; a confirmed one is not")
    func deadline() throws {
        let fixture = try start(["SAGA_DEADLINE_MS": "3000", "SAGA_SWEEP_INTERVAL_MS": "200"])
        let open = command()
        let placed = try place(open, fixture)
        let confirmed = try place(command(), fixture)
        try fixture.publish(StockReserved(reserving: confirmed))
        try fixture.publish(
            PaymentSucceeded(
                orderID: confirmed.orderID, paymentID: "pay-1", currency: confirmed.currency,
                amount: confirmed.amounts.total))
        let events = try fixture.events(2, timeout: .seconds(30))
        let cancelled = events.compactMap { event -> OrderCancelled? in
            if case .orderCancelled(let cancelled) = event { return cancelled }
            return nil
        }
        #expect(cancelled.map(\.orderID) == [placed.orderID])
        #expect(cancelled.first?.reason == .timeout)
        #expect(events.contains { if case .orderConfirmed = $0 { true } else { false } })
        #expect(try status(placed.orderID, fixture)?.0 == "CANCELLED")
        #expect(try status(confirmed.orderID, fixture)?.0 == "CONFIRMED")
    }

    private func command(
        _ orderID: String = UUID().uuidString.lowercased(),
        items: [OrderLine] = [OrderLine(sku: "KB-001", name: "Keyboard", quantity: 2, unitPrice: 20_000)],
        coupon: String? = "SUMMER20"
    ) -> PlaceOrder {
        PlaceOrder(
            orderID: orderID, customer: Customer(id: "c-1001", email: "kim@example.com", membership: "gold"),
            items: items,
            shippingAddress: ShippingAddress(
                street: "Teheran-ro 123", city: "Seoul", postalCode: "06234", country: "KR", detail: "5F"),
            paymentToken: "tok_approve", couponCode: coupon)
    }

    /// Places `command` and returns its `order.placed`.
    private func place(_ command: PlaceOrder, _ fixture: ServiceFixture) throws -> OrderPlaced {
        try fixture.publish(command)
        let events = try fixture.events(1)
        guard events.count == 1, case .orderPlaced(let placed) = events[0] else {
            Issue.record("expected one order.placed, got \(events)")
            throw CocoaError(.coderInvalidValue)
        }
        return placed
    }

    /// Publishes an order that is placed at once and waits for its `order.placed`: every message
    /// published before it has been handled by then (one consumer, in queue order), so the events
    /// returned besides the marker's are all those earlier messages caused.
    private func eventsUpToMarker(_ fixture: ServiceFixture) throws -> [AnyMessage] {
        let marker = command()
        try fixture.publish(marker)
        var events: [AnyMessage] = []
        try waitUntil(
            "the marker's order.placed", timeout: .seconds(30),
            { () -> Bool in
                events += try fixture.events(0, timeout: .seconds(1))
                return events.contains { $0.orderID == marker.orderID }
            }
        ) { $0 }
        return events.filter { $0.orderID != marker.orderID }
    }

    private func status(_ orderID: String, _ fixture: ServiceFixture) throws -> (String, String?)? {
        let database = try fixture.connectDatabase()
        defer { database.close() }
        let row = try database.query("select status, reason from orders where order_id = $1", [.text(orderID)]).rows
            .first
        return try row.map { (try $0.string("status"), try $0.text("reason")) }
    }

    @Test("a valid order is stored PENDING and placed: coupon, then membership, then shipping")
    func placed() throws {
        let fixture = try start()
        let command = command()
        let placed = try place(command, fixture)
        // 40,000 − 20 % (SUMMER20) = 32,000; − 10 % (gold) = 28,800; + 3,000 below 50,000.
        #expect(
            placed.amounts
                == PriceBreakdown(
                    subtotal: 40_000, couponDiscount: 8_000, membershipDiscount: 3_200, shippingFee: 3_000,
                    total: 31_800))
        #expect(placed.couponCode == "SUMMER20")
        #expect(placed.lines == command.items)
        #expect(placed.paymentToken == "tok_approve")
        #expect(try status(command.orderID, fixture)?.0 == "PENDING")
    }

    @Test("an invalid order is rejected with every violation and stored REJECTED")
    func rejected() throws {
        let fixture = try start()
        let command = command(items: [], coupon: "NO-SUCH-COUPON")
        try fixture.publish(command)
        let events = try fixture.events(1)
        guard events.count == 1, case .orderRejected(let rejected) = events[0] else {
            Issue.record("expected one order.rejected, got \(events)")
            return
        }
        #expect(Set(rejected.violations.map(\.code)) == ["empty_order", "unknown_coupon"])
        #expect(rejected.reason == .invalidOrder)
        #expect(try status(command.orderID, fixture)?.0 == "REJECTED")
        // The same rejected command again changes nothing.
        try fixture.publish(command)
        #expect(try eventsUpToMarker(fixture).isEmpty)
    }

    @Test("the same command with a new message id is placed once; other content under its id is dead-lettered")
    func idempotentByOrderID() throws {
        let fixture = try start()
        let command = command()
        _ = try place(command, fixture)
        try fixture.publish(command)
        #expect(try eventsUpToMarker(fixture).isEmpty, "a resent command emits nothing")

        var changed = command
        changed.items[0].quantity = 3
        let conflicting = try fixture.publish(changed)
        let queue = "order-worker-\(fixture.suffix).dlq"
        try waitUntil("the conflicting command in the DLQ", { try fixture.depth(queue) }) { $0 == 1 }
        let letter = try #require(try fixture.deadLetters(of: "order-worker").first)
        #expect(letter.properties.messageID == conflicting)
        #expect(letter.properties.headers[DeadLetterHeader.errorReason]?.stringValue == "order_id_conflict")
        let database = try fixture.connectDatabase()
        defer { database.close() }
        let rows = try database.query(
            "select lines::text as lines from orders where order_id = $1", [.text(command.orderID)]
        ).rows
        #expect(rows.count == 1)
        #expect(try rows.first?.string("lines").contains("\"quantity\": 2") == true, "the first command stays")
    }

    @Test(
        "stock reserved and payment succeeded confirm; a customer's cancel then cancels it; a late payment changes nothing"
    )
    func confirmedThenCancelled() throws {
        let fixture = try start()
        let placed = try place(command(), fixture)
        try fixture.publish(StockReserved(reserving: placed))
        try fixture.publish(
            PaymentSucceeded(
                orderID: placed.orderID, paymentID: "pay-1", currency: placed.currency, amount: placed.amounts.total))
        let confirmations = try fixture.events(1)
        guard confirmations.count == 1, case .orderConfirmed(let confirmed) = confirmations[0] else {
            Issue.record("expected one order.confirmed, got \(confirmations)")
            return
        }
        #expect(confirmed.paymentID == "pay-1")
        #expect(confirmed.amounts == placed.amounts)
        #expect(confirmed.lines == placed.lines)
        #expect(try status(placed.orderID, fixture)?.0 == "CONFIRMED")

        try fixture.publish(CancelOrder(orderID: placed.orderID, reason: "changed my mind"))
        let cancellations = try fixture.events(1)
        guard cancellations.count == 1, case .orderCancelled(let cancelled) = cancellations[0] else {
            Issue.record("expected one order.cancelled, got \(cancellations)")
            return
        }
        #expect(cancelled.previousStatus == .confirmed)
        #expect(cancelled.reason == .customerRequest)
        #expect(cancelled.message == "changed my mind")
        #expect(cancelled.amounts == placed.amounts)

        try fixture.publish(
            PaymentSucceeded(
                orderID: placed.orderID, paymentID: "pay-2", currency: placed.currency, amount: placed.amounts.total))
        #expect(try eventsUpToMarker(fixture).isEmpty, "the payment-worker refunds; the order-worker says nothing")
        #expect(try status(placed.orderID, fixture)?.0 == "CANCELLED")
        let database = try fixture.connectDatabase()
        defer { database.close() }
        let kinds = try database.query(
            "select kind from order_events where order_id = $1 order by id", [.text(placed.orderID)]
        ).rows.map { try $0.string("kind") }
        #expect(
            kinds == ["order.place", "stock.reserved", "payment.succeeded", "order.cancel", "payment.succeeded"])
    }

    @Test("stock rejected cancels a pending order as out of stock; a payment failure as declined")
    func compensations() throws {
        let fixture = try start()
        let short = try place(command(), fixture)
        try fixture.publish(
            StockRejected(
                orderID: short.orderID, message: "KB-001: 2 requested, 1 available",
                shortages: [StockShortage(sku: "KB-001", requested: 2, available: 1)]))
        let events = try fixture.events(1)
        guard events.count == 1, case .orderCancelled(let cancelled) = events[0] else {
            Issue.record("expected one order.cancelled, got \(events)")
            return
        }
        #expect(cancelled.reason == .outOfStock)
        #expect(cancelled.previousStatus == .pending)
        #expect(try status(short.orderID, fixture)! == ("CANCELLED", "out_of_stock"))

        let declined = try place(command(), fixture)
        try fixture.publish(
            PaymentFailed(
                orderID: declined.orderID, currency: .krw, amount: declined.amounts.total, declineCode: "declined",
                message: "card declined"))
        let failures = try fixture.events(1)
        guard failures.count == 1, case .orderCancelled(let failed) = failures[0] else {
            Issue.record("expected one order.cancelled, got \(failures)")
            return
        }
        #expect(failed.reason == .paymentDeclined)
        #expect(try status(declined.orderID, fixture)! == ("CANCELLED", "payment_declined"))
    }

    @Test(
        "a cancel before its order leaves a tombstone: the order is never placed, and its order.place is answered once, with order.cancelled; the same command again is a duplicate, another one a conflict"
    )
    func cancelBeforePlace() throws {
        let fixture = try start()
        let command = command()
        try fixture.publish(CancelOrder(orderID: command.orderID, reason: "too slow"))
        try fixture.publish(command)
        try fixture.publish(command)
        let events = try eventsUpToMarker(fixture)
        guard case .orderCancelled(let cancelled)? = events.first, events.count == 1 else {
            Issue.record("expected one order.cancelled, got \(events)")
            return
        }
        #expect(cancelled.orderID == command.orderID)
        #expect(cancelled.reason == .customerRequest)
        #expect(cancelled.previousStatus == .cancelled)
        #expect(cancelled.customer.email == "kim@example.com", "the customer is told")
        #expect(cancelled.amounts.total > 0)
        #expect(try status(command.orderID, fixture)! == ("CANCELLED", "customer_request"))

        var other = command
        other.items[0].quantity = 3
        try fixture.publish(other)
        let queue = "order-worker-\(fixture.suffix).dlq"
        try waitUntil("the conflicting command in the DLQ", { try fixture.depth(queue) }) { $0 == 1 }
        let letter = try #require(try fixture.deadLetters(of: "order-worker").first)
        #expect(letter.properties.headers[DeadLetterHeader.errorReason]?.stringValue == "order_id_conflict")
        #expect(try eventsUpToMarker(fixture).isEmpty)
    }

    @Test("a saga event for an unknown order is retried, then dead-lettered")
    func unknownOrder() throws {
        let fixture = try start()
        try fixture.publish(
            PaymentSucceeded(orderID: UUID().uuidString.lowercased(), paymentID: "pay-1", currency: .krw, amount: 1))
        let queue = "order-worker-\(fixture.suffix).dlq"
        try waitUntil("the event in the DLQ", { try fixture.depth(queue) }) { $0 == 1 }
        let letter = try #require(try fixture.deadLetters(of: "order-worker").first)
        let message = letter.properties.headers[DeadLetterHeader.errorMessage]?.stringValue ?? ""
        #expect(message.contains("order_not_found"), "last failure: \(message)")
    }
}
