import CommerceMessages
import CommerceTestKit
import Foundation
import Inventory
import Testing

/// The payment gateway failing under a steady flow of orders (docs/payment-gateway.md,
/// docs/architecture.md "Outages"): the whole fleet against a real `payment-gateway` process that
/// is stopped for a minute, or that fails a fifth of its calls.
@Suite("Payment gateway outages end to end")
struct GatewayOutageTests {
    private let saga = SagaDriver()

    /// Waits until every order in `orders` has a terminal event; returns the last event of each.
    private func outcomes(_ fixture: ServiceFixture, _ orders: [PlaceOrder]) throws -> [String: AnyMessage] {
        let events = try saga.terminalEvents(fixture, count: orders.count)
        return events.compactMapValues(\.last)
    }

    @Test(
        "the gateway stopped for 60 s under a steady flow: the worker pauses, no dead letter, every order confirmed once"
    )
    func sixtySecondOutage() throws {
        let (fixture, _) = try saga.startFleet(
            stock: [StockSeed(sku: "KB-001", quantity: 10_000)],
            extra: ["payment-worker": ["PAYMENT_CIRCUIT_OPEN_TIMEOUT_MS": "3000"]])
        let gateway = try #require(fixture.gateway)
        let payment = fixture.workers[2]
        var orders: [PlaceOrder] = []
        var stoppedAt: ContinuousClock.Instant?
        var sawPause = false
        // 5 orders a second: 10 s before the outage, 60 s of outage, 10 s after.
        let started = ContinuousClock.now
        while ContinuousClock.now - started < .seconds(80) {
            let order = saga.order([("KB-001", 1, 10_000)])
            orders.append(order)
            try fixture.publish(order)
            let elapsed = ContinuousClock.now - started
            if stoppedAt == nil, elapsed >= .seconds(10) {
                #expect(gateway.stop() == 0, "the gateway stops cleanly")
                stoppedAt = .now
            }
            if let stopped = stoppedAt, gateway.process?.process.isRunning == false,
                ContinuousClock.now - stopped >= .seconds(60)
            {
                try gateway.start()
            }
            if stoppedAt != nil, !sawPause, let health = payment.http("/health"), health.0 == 503,
                health.1.contains("paused, payment gateway unavailable")
            {
                sawPause = true
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        #expect(sawPause, "the payment worker paused and said so on /health")
        let ends = try outcomes(fixture, orders)
        #expect(ends.count == orders.count)
        let confirmed = ends.values.filter { if case .orderConfirmed = $0 { true } else { false } }.count
        #expect(confirmed == orders.count, "every order confirmed: \(ends.values.map(\.messageType.rawValue))")
        for worker in ["order-worker", "stock-worker", "payment-worker", "notification-worker"] {
            #expect(try fixture.deadLetters(of: worker).isEmpty, "\(worker) dead-lettered nothing")
        }
        let metrics = payment.http("/metrics")?.1 ?? ""
        #expect(
            metrics.contains(#"commerce_circuit_transitions_total{circuit="payment_gateway",from="closed",to="open"}"#),
            "\(metrics.prefix(2_000))")
        #expect(metrics.contains(#"to="closed"}"#))
        #expect((metricValue(metrics, "commerce_dependency_outages_total") ?? 0) >= 1)
        #expect(metricValue(metrics, "commerce_circuit_state") == 0, "closed again")
        #expect(try saga.auditSettled(fixture).isClean)
        #expect(try gateway.chargeRows() == Int64(orders.count), "one charge per order at the processor")
    }

    @Test("a gateway failing 20 % of its calls: every order still ends as its card says, no dead letter")
    func twentyPercentErrors() throws {
        let (fleet, _) = try saga.startFleet(
            stock: [StockSeed(sku: "KB-001", quantity: 10_000)], gatewayEnvironment: ["FAULTS_ERROR_RATE": "0.2"])
        let tokens = ["tok_approve", "tok_approve", "tok_approve", "tok_decline", "tok_transient_2"]
        let orders = (0..<100).map { saga.order([("KB-001", 1, 10_000)], token: tokens[$0 % tokens.count]) }
        for order in orders { try fleet.publish(order) }
        let ends = try outcomes(fleet, orders)
        #expect(ends.count == orders.count)
        for order in orders {
            switch (order.paymentToken, ends[order.orderID]) {
            case ("tok_decline", .orderCancelled(let cancelled)?):
                #expect(cancelled.reason == .paymentDeclined)
            case ("tok_decline", let other):
                Issue.record("a declined card ended \(String(describing: other))")
            case (_, .orderConfirmed?):
                break
            case (let token, let other):
                Issue.record("\(token) ended \(String(describing: other))")
            }
        }
        for worker in ["order-worker", "stock-worker", "payment-worker", "notification-worker"] {
            #expect(try fleet.deadLetters(of: worker).isEmpty, "\(worker) dead-lettered nothing")
        }
        let gatewayMetrics = fleet.gateway?.process?.http("/metrics")?.1 ?? ""
        #expect(
            gatewayMetrics.contains(#"status="503""#), "the gateway did fail calls: \(gatewayMetrics.prefix(1_500))")
        #expect(try saga.auditSettled(fleet).isClean)
    }
}
