import CommerceDomain
import CommerceMessages
import Payments
import Resilience
import Synchronization
import Testing
import WorkerRuntime

/// The payment handler's phase outside the transaction: what it asks of the gateway, and how the
/// circuit breaker turns a failing gateway into transient failures (docs/architecture.md,
/// "Failures").
@Suite("Payments: the handler's calls to the gateway")
struct PaymentsHandlerTests {
    /// A time the test moves by hand, for the breaker.
    final class ManualClock: Sendable {
        private let now = Mutex(ContinuousClock.now)
        func read() -> ContinuousClock.Instant { now.withLock { $0 } }
        func advance(_ duration: Duration) { now.withLock { $0 += duration } }
    }

    private func reserved(_ orderID: String, token: String, amount: Int = 9_000) -> AnyMessage {
        .stockReserved(
            StockReserved(
                orderID: orderID, customerID: "c-1", lines: [StockLine(sku: "SKU-1", quantity: 1)], currency: .krw,
                amount: amount, paymentToken: token))
    }

    private func cancelled(_ orderID: String, total: Int = 9_000) -> AnyMessage {
        .orderCancelled(
            OrderCancelled(
                orderID: orderID, customer: Customer(id: "c-1", email: "c@example.com"), currency: .krw,
                amounts: PriceBreakdown(
                    subtotal: total, couponDiscount: 0, membershipDiscount: 0, shippingFee: 0, total: total),
                reason: .customerRequest, message: "changed my mind", previousStatus: .pending))
    }

    private func prepare(_ handler: PaymentHandler, _ message: AnyMessage) async throws -> PaymentPreparation {
        let envelope = Envelope(correlationID: message.orderID, type: message.messageType.rawValue, appID: "test")
        return try await handler.prepare(message, envelope: envelope, attempts: 0)
    }

    private func failure(_ body: () async throws -> PaymentPreparation) async -> HandlingFailure? {
        do {
            let prepared = try await body()
            Issue.record("expected a failure, got \(prepared)")
            return nil
        } catch {
            // As the runtime sees it: an outage is classified too (docs/architecture.md, "Outages").
            if error is HandlingFailure || error is DependencyOutage { return HandlingFailure.classify(error) }
            Issue.record("expected a HandlingFailure or a DependencyOutage, got \(error)")
            return nil
        }
    }

    @Test("stock.reserved charges once per order, keyed charge:<order_id>")
    func chargesByOrder() async throws {
        let gateway = SandboxGateway()
        let handler = PaymentHandler(gateway: gateway)
        let first = try await prepare(handler, reserved("o-1", token: "tok_approve"))
        let again = try await prepare(handler, reserved("o-1", token: "tok_approve"))
        #expect(first == again)
        let stored = try await gateway.lookup(idempotencyKey: "charge:o-1")
        #expect(stored.map(PaymentPreparation.charge) == first)
    }

    @Test("a gateway failure is a transient failure with reason gateway_unavailable")
    func transientGateway() async throws {
        let handler = PaymentHandler(gateway: SandboxGateway())
        let failure = await failure { try await prepare(handler, reserved("o-1", token: "tok_transient_1")) }
        #expect(failure?.failureClass == .transient)
        #expect(failure?.reason == "gateway_unavailable")
        #expect(try await prepare(handler, reserved("o-1", token: "tok_transient_1")).isCapture)
    }

    @Test("after the threshold the circuit opens: an outage of the gateway, which is not called until it half-opens")
    func circuitOpens() async throws {
        let clock = ManualClock()
        let breaker = CircuitBreaker(
            configuration: .init(failureThreshold: 2, openTimeout: .seconds(10), successThreshold: 1),
            clock: { clock.read() })
        let handler = PaymentHandler(gateway: SandboxGateway(), breaker: breaker)
        let message = reserved("o-1", token: "tok_transient_3")
        for _ in 0..<2 {
            #expect(await failure { try await prepare(handler, message) }?.reason == "gateway_unavailable")
        }
        #expect(breaker.state == .open)
        let refused = await failure { try await prepare(handler, message) }
        #expect(refused?.outageOf == PaymentHandler.dependencyName, "the runtime pauses rather than retrying")
        #expect(refused?.reason == "dependency_outage")
        await #expect(throws: CircuitBreakerError.self, "the probe is refused while open") {
            try await handler.probeDependencies()
        }
        clock.advance(.seconds(10))
        // Had the open circuit called the gateway, its third failure would be spent and this
        // trial would capture.
        #expect(await failure { try await prepare(handler, message) }?.reason == "gateway_unavailable")
        #expect(breaker.state == .open)
        clock.advance(.seconds(10))
        #expect(try await prepare(handler, message).isCapture)
        #expect(breaker.state == .closed)
    }

    @Test("a declined card is an answer: it does not open the circuit")
    func declineKeepsCircuitClosed() async throws {
        let breaker = CircuitBreaker(configuration: .init(failureThreshold: 1))
        let handler = PaymentHandler(gateway: SandboxGateway(), breaker: breaker)
        for order in ["o-1", "o-2", "o-3"] {
            let prepared = try await prepare(handler, reserved(order, token: "tok_decline"))
            #expect(prepared == .charge(.declined(code: "card_declined", message: "The card was declined.")))
        }
        #expect(breaker.state == .closed)
    }

    @Test("order.cancelled refunds a captured order in full, keyed refund:<order_id>")
    func cancelRefunds() async throws {
        let gateway = SandboxGateway()
        let handler = PaymentHandler(gateway: gateway)
        guard case .charge(.captured(let paymentID)) = try await prepare(handler, reserved("o-1", token: "tok_approve"))
        else {
            Issue.record("no capture")
            return
        }
        let prepared = try await prepare(handler, cancelled("o-1"))
        guard case .refund(let refundedPayment, .refunded(let refundID, let amount)) = prepared else {
            Issue.record("expected a refund, got \(prepared)")
            return
        }
        #expect(refundedPayment == paymentID)
        #expect(amount == 9_000)
        // Prepared again (a redelivery): the same refund, not a second one.
        #expect(
            try await prepare(handler, cancelled("o-1"))
                == .refund(paymentID: paymentID, .refunded(refundID: refundID, amount: 9_000)))
    }

    @Test("order.cancelled before any charge refunds nothing, and a later stock.reserved charges nothing")
    func cancelFirst() async throws {
        let gateway = SandboxGateway()
        let handler = PaymentHandler(gateway: gateway)
        #expect(try await prepare(handler, cancelled("o-1")) == .nothingCaptured)
        #expect(try await prepare(handler, reserved("o-1", token: "tok_approve")) == .cancelledBeforeCharge)
        #expect(try await gateway.lookup(idempotencyKey: "charge:o-1") == nil)
    }

    @Test("other messages need nothing of the gateway")
    func otherMessages() async throws {
        let handler = PaymentHandler(gateway: SandboxGateway())
        let failed = AnyMessage.paymentFailed(
            PaymentFailed(orderID: "o-1", currency: .krw, amount: 1, declineCode: "card_declined", message: "no"))
        #expect(try await prepare(handler, failed) == PaymentPreparation.none)
    }

    @Test("the memory of cancelled orders forgets the oldest past its capacity")
    func cancelledOrdersBounded() {
        let memory = CancelledOrders(capacity: 3)
        for order in ["a", "b", "c", "d", "e", "f", "g"] { memory.insert(order) }
        #expect(!memory.contains("a") && !memory.contains("d"))
        #expect(memory.contains("e") && memory.contains("f") && memory.contains("g"))
        memory.insert("g")
        #expect(memory.contains("e"), "a second insert of a member is not a new member")
    }
}

extension PaymentPreparation {
    fileprivate var isCapture: Bool {
        if case .charge(.captured) = self { return true }
        return false
    }
}
