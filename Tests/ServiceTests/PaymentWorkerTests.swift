import CommerceMessages
import CommerceTestKit
import Foundation
import Payments
import Postgres
import Testing

/// The payment worker against real servers and a real process (docs/saga.md, payment-worker):
/// charges on `stock.reserved` through the sandbox gateway, refunds on `order.cancelled`, and
/// never captures an order twice or charges a cancelled one.
@Suite("Payment worker")
struct PaymentWorkerTests {
    private func reserved(_ orderID: String, token: String, amount: Int = 25_000) -> StockReserved {
        StockReserved(
            orderID: orderID, customerID: "customer-1", lines: [StockLine(sku: "SKU-1", quantity: 2)], currency: .krw,
            amount: amount, paymentToken: token)
    }

    private func cancelled(_ orderID: String, total: Int = 25_000) throws -> OrderCancelled {
        OrderCancelled(
            orderID: orderID, customer: Customer(id: "customer-1", email: "customer@example.com"), currency: .krw,
            amounts: PriceBreakdown(
                subtotal: total, couponDiscount: 0, membershipDiscount: 0, shippingFee: 0, total: total),
            reason: .customerRequest, message: "changed my mind", previousStatus: .pending)
    }

    private func newOrderID() -> String { "order-\(UUID().uuidString.lowercased())" }

    /// The order's ledger rows, oldest first.
    private func ledger(_ orderID: String, _ database: PostgresConnection) throws -> [(kind: String, amount: Int64)] {
        try database.query(
            "select kind, amount from payment_ledger where order_id = $1 order by id", [.text(orderID)]
        ).rows.map { (try $0.string("kind"), try $0.int("amount")) }
    }

    /// Captures − refunds for the order (`PaymentsAudit`).
    private func netCaptured(_ orderID: String, _ database: PostgresConnection) throws -> Int64 {
        Int64(try PaymentsAudit.netCaptured(database)[orderID] ?? 0)
    }

    private func status(_ orderID: String, _ database: PostgresConnection) throws -> String? {
        try database.query("select status from payments where order_id = $1", [.text(orderID)]).rows.first?
            .text("status")
    }

    /// Messages the worker has taken effect for (its inbox).
    private func handled(_ database: PostgresConnection) throws -> Int64 {
        try database.query("select count(*) as n from runtime_inbox").rows[0].int("n")
    }

    @Test("an approved card: payment.succeeded and one capture in the ledger")
    func approve() throws {
        let fixture = try ServiceFixture(watching: [.paymentSucceeded, .paymentFailed, .paymentRefunded])
        let worker = try fixture.startWorker("payment-worker")
        let orderID = newOrderID()
        try fixture.publish(reserved(orderID, token: "tok_approve"))
        let events = try fixture.events(1)
        guard case .paymentSucceeded(let succeeded)? = events.first, events.count == 1 else {
            Issue.record("expected one payment.succeeded, got \(events)")
            return
        }
        #expect(succeeded.orderID == orderID)
        #expect(succeeded.amount == 25_000)
        #expect(succeeded.currency == .krw)
        let database = try fixture.connectDatabase()
        #expect(try ledger(orderID, database).map(\.kind) == ["capture"])
        #expect(try netCaptured(orderID, database) == 25_000)
        #expect(try status(orderID, database) == "captured")
        let metrics = worker.http("/metrics")?.1 ?? ""
        #expect(metrics.contains("commerce_gateway_duration_seconds"), "the gateway's timer on /metrics")
    }

    @Test("a declined card: payment.failed with the decline code, nothing captured")
    func decline() throws {
        let fixture = try ServiceFixture(watching: [.paymentSucceeded, .paymentFailed, .paymentRefunded])
        try fixture.startWorker("payment-worker")
        let orderID = newOrderID()
        try fixture.publish(reserved(orderID, token: "tok_insufficient_funds"))
        let events = try fixture.events(1)
        guard case .paymentFailed(let failed)? = events.first, events.count == 1 else {
            Issue.record("expected one payment.failed, got \(events)")
            return
        }
        #expect(failed.orderID == orderID)
        #expect(failed.reason == .paymentDeclined)
        #expect(failed.declineCode == "insufficient_funds")
        #expect(failed.amount == 25_000)
        let database = try fixture.connectDatabase()
        #expect(try ledger(orderID, database).isEmpty)
        #expect(try status(orderID, database) == "declined")
    }

    @Test("a gateway failing twice: the runtime retries and the order is captured once")
    func transientGateway() throws {
        let fixture = try ServiceFixture(watching: [.paymentSucceeded, .paymentFailed, .paymentRefunded])
        let worker = try fixture.startWorker("payment-worker")
        let orderID = newOrderID()
        try fixture.publish(reserved(orderID, token: "tok_transient_2"))
        let events = try fixture.events(1)
        guard case .paymentSucceeded(let succeeded)? = events.first, events.count == 1 else {
            Issue.record("expected one payment.succeeded, got \(events)")
            return
        }
        #expect(succeeded.orderID == orderID)
        let database = try fixture.connectDatabase()
        #expect(try ledger(orderID, database).map(\.kind) == ["capture"])
        #expect(try fixture.deadLetters(of: "payment-worker").isEmpty)
        #expect(worker.log.contains("gateway_unavailable"), "the retries are logged with their reason")
    }

    @Test("the same stock.reserved under two message ids captures once")
    func duplicateReservation() throws {
        let fixture = try ServiceFixture(watching: [.paymentSucceeded, .paymentFailed, .paymentRefunded])
        try fixture.startWorker("payment-worker")
        let orderID = newOrderID()
        let message = reserved(orderID, token: "tok_approve")
        try fixture.publish(message)
        try fixture.publish(message)
        let database = try fixture.connectDatabase()
        try waitUntil("both messages handled", { try handled(database) }) { $0 == 2 }
        let events = try fixture.events(1)
        #expect(events.count == 1, "one payment.succeeded, got \(events)")
        #expect(try ledger(orderID, database).map(\.kind) == ["capture"])
        #expect(try fixture.depth(fixture.watchQueue) == 0)
    }

    @Test("order.cancelled after the capture: payment.refunded and a net charge of zero")
    func refundAfterCapture() throws {
        let fixture = try ServiceFixture(watching: [.paymentSucceeded, .paymentFailed, .paymentRefunded])
        try fixture.startWorker("payment-worker")
        let orderID = newOrderID()
        try fixture.publish(reserved(orderID, token: "tok_approve"))
        guard case .paymentSucceeded(let succeeded)? = try fixture.events(1).first else {
            Issue.record("no payment.succeeded")
            return
        }
        try fixture.publish(try cancelled(orderID))
        let events = try fixture.events(1)
        guard case .paymentRefunded(let refunded)? = events.first, events.count == 1 else {
            Issue.record("expected one payment.refunded, got \(events)")
            return
        }
        #expect(refunded.paymentID == succeeded.paymentID)
        #expect(refunded.amount == 25_000)
        #expect(refunded.reason == .customerRequest)
        let database = try fixture.connectDatabase()
        #expect(try ledger(orderID, database).map(\.kind) == ["capture", "refund"])
        #expect(try netCaptured(orderID, database) == 0)
        #expect(try status(orderID, database) == "refunded")
    }

    @Test("order.cancelled before stock.reserved: no charge at all")
    func cancelBeforeReservation() throws {
        let fixture = try ServiceFixture(watching: [.paymentSucceeded, .paymentFailed, .paymentRefunded])
        try fixture.startWorker("payment-worker")
        let orderID = newOrderID()
        try fixture.publish(try cancelled(orderID))
        let database = try fixture.connectDatabase()
        try waitUntil("the tombstone", { try status(orderID, database) }) { $0 == "cancelled" }
        try fixture.publish(reserved(orderID, token: "tok_approve"))
        try waitUntil("both messages handled", { try handled(database) }) { $0 == 2 }
        #expect(try ledger(orderID, database).isEmpty)
        #expect(try status(orderID, database) == "cancelled")
        #expect(try fixture.depth(fixture.watchQueue) == 0, "no payment event")
    }

    @Test("a copy that never saw the cancellation captures: recorded refund_due, then the sweeper refunds it")
    func lateCaptureOnAnotherCopy() throws {
        let fixture = try ServiceFixture(watching: [.paymentSucceeded, .paymentFailed, .paymentRefunded])
        let first = try fixture.startWorker("payment-worker")
        let orderID = newOrderID()
        try fixture.publish(try cancelled(orderID))
        let database = try fixture.connectDatabase()
        try waitUntil("the tombstone", { try status(orderID, database) }) { $0 == "cancelled" }
        // A new process has neither the first one's memory of the cancellation nor its sandbox.
        first.terminate()
        #expect(first.waitForExit(timeout: .seconds(30)) == 0)
        let second = try fixture.startWorker("payment-worker", ["PAYMENT_REFUND_SWEEP_INTERVAL_MS": "200"])
        try fixture.publish(reserved(orderID, token: "tok_approve"))
        try waitUntil("both messages handled", { try handled(database) }) { $0 == 2 }
        // The capture is owed back; the sweeper refunds it with the cancellation's reason.
        let events = try fixture.events(1)
        guard case .paymentRefunded(let refunded)? = events.first, events.count == 1 else {
            Issue.record("expected one payment.refunded, got \(events)")
            return
        }
        #expect(refunded.orderID == orderID)
        #expect(refunded.amount == 25_000)
        #expect(refunded.reason == .customerRequest)
        #expect(try status(orderID, database) == "refunded")
        #expect(try ledger(orderID, database).map(\.kind) == ["capture", "refund"])
        #expect(try netCaptured(orderID, database) == 0)
        #expect(second.log.contains("refund_due"))
    }

    @Test(
        "charges the processor refuses (an empty token): payment.failed at once, no dead letter, the circuit stays closed, and the next order is charged"
    )
    func refusedCharges() throws {
        let fixture = try ServiceFixture(watching: [.paymentSucceeded, .paymentFailed, .paymentRefunded])
        let gateway = try fixture.startGateway()
        // Two failures would open the circuit: five refusals must not count as failures.
        let worker = try fixture.startWorker(
            "payment-worker", gateway.merging(["PAYMENT_CIRCUIT_FAILURE_THRESHOLD": "2"]) { $1 })
        let refused = (0..<5).map { _ in newOrderID() }
        for orderID in refused { try fixture.publish(reserved(orderID, token: "")) }
        let valid = newOrderID()
        try fixture.publish(reserved(valid, token: "tok_approve"))
        let events = try fixture.events(6)
        var failed: [String: PaymentFailed] = [:]
        var succeeded: [String] = []
        for event in events {
            switch event {
            case .paymentFailed(let event): failed[event.orderID] = event
            case .paymentSucceeded(let event): succeeded.append(event.orderID)
            default: Issue.record("unexpected event \(event)")
            }
        }
        #expect(Set(failed.keys) == Set(refused))
        for event in failed.values {
            #expect(event.reason == .paymentDeclined)
            #expect(event.declineCode == "invalid_request", "the processor's error type: \(event)")
            #expect(event.message.contains("payment_token"), "says what the processor refused: \(event.message)")
        }
        #expect(succeeded == [valid])
        #expect(try fixture.deadLetters(of: "payment-worker").isEmpty)
        let database = try fixture.connectDatabase()
        for orderID in refused { #expect(try status(orderID, database) == "declined") }
        #expect(!worker.log.contains("circuit opened"), "a refusal is an answer, not a failure of the processor")
        let metrics = worker.http("/metrics")?.1 ?? ""
        #expect(metrics.contains(#"commerce_circuit_state{circuit="payment_gateway"} 0"#), "closed")
    }
}
