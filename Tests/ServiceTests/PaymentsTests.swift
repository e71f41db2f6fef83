import CommerceDomain
import Payments
import Testing

/// The sandbox card processor: its test tokens and the idempotency a real processor promises.
@Suite("Payments: the sandbox gateway")
struct PaymentsTests {
    private func charge(
        _ token: String, key: String = "charge:o-1", amount: Int = 12_000, on gateway: SandboxGateway
    ) async throws -> ChargeResult {
        try await gateway.charge(
            ChargeRequest(orderID: "o-1", amount: amount, currency: .krw, paymentToken: token, idempotencyKey: key))
    }

    private func paymentID(of result: ChargeResult) throws -> String {
        guard case .captured(let paymentID) = result else {
            Issue.record("expected a capture, got \(result)")
            throw GatewayError("no capture")
        }
        return paymentID
    }

    @Test("tok_approve captures, and the same key gives the same capture again")
    func approveIsIdempotent() async throws {
        let gateway = SandboxGateway()
        let first = try await charge("tok_approve", on: gateway)
        let again = try await charge("tok_approve", on: gateway)
        #expect(try paymentID(of: first) == paymentID(of: again))
        #expect(try await gateway.lookup(idempotencyKey: "charge:o-1") == first)
        let other = try await charge("tok_approve", key: "charge:o-2", on: gateway)
        #expect(try paymentID(of: other) != paymentID(of: first))
    }

    @Test("decline tokens are declined with the processor's code; an unknown token too")
    func declines() async throws {
        let gateway = SandboxGateway()
        guard case .declined(let code, _) = try await charge("tok_decline", key: "k1", on: gateway) else {
            Issue.record("tok_decline was not declined")
            return
        }
        #expect(code == "card_declined")
        guard case .declined(let funds, _) = try await charge("tok_insufficient_funds", key: "k2", on: gateway) else {
            Issue.record("tok_insufficient_funds was not declined")
            return
        }
        #expect(funds == "insufficient_funds")
        guard case .declined(let unknown, _) = try await charge("tok_nonsense", key: "k3", on: gateway) else {
            Issue.record("an unknown token was not declined")
            return
        }
        #expect(unknown == "invalid_token")
        #expect(
            try await gateway.lookup(idempotencyKey: "k1")
                == .declined(code: "card_declined", message: "The card was declined."))
    }

    @Test("a declined key stays declined, whatever token comes with it later")
    func declinedKeyStaysDeclined() async throws {
        let gateway = SandboxGateway()
        let declined = try await charge("tok_decline", on: gateway)
        #expect(try await charge("tok_approve", on: gateway) == declined)
    }

    @Test("tok_transient_N fails transiently N times for one key, then captures once")
    func transientThenCapture() async throws {
        let gateway = SandboxGateway()
        for _ in 0..<2 {
            await #expect(throws: GatewayError.self) { try await charge("tok_transient_2", on: gateway) }
        }
        #expect(try await gateway.lookup(idempotencyKey: "charge:o-1") == nil, "a failure is not an answer")
        let captured = try await charge("tok_transient_2", on: gateway)
        #expect(try await charge("tok_transient_2", on: gateway) == captured)
        // Another key has its own count.
        await #expect(throws: GatewayError.self) { try await charge("tok_transient_2", key: "charge:o-2", on: gateway) }
    }

    @Test("the gateway's error is transient with reason gateway_unavailable")
    func errorClass() {
        let error = GatewayError("timeout")
        #expect(error.failureClass == .transient)
        #expect(error.failureReason == "gateway_unavailable")
    }

    @Test("many concurrent charges with one key capture once")
    func concurrentCharges() async throws {
        let gateway = SandboxGateway()
        let results = try await withThrowingTaskGroup(of: ChargeResult.self) { group in
            for _ in 0..<50 {
                group.addTask {
                    try await gateway.charge(
                        ChargeRequest(
                            orderID: "o-1", amount: 5_000, currency: .krw, paymentToken: "tok_approve",
                            idempotencyKey: "charge:o-1"))
                }
            }
            return try await group.reduce(into: Set<ChargeResult>()) { $0.insert($1) }
        }
        #expect(results.count == 1)
    }

    @Test("a refund is idempotent by key")
    func refundIdempotent() async throws {
        let gateway = SandboxGateway()
        let payment = try paymentID(of: try await charge("tok_approve", on: gateway))
        let request = RefundRequest(paymentID: payment, amount: 12_000, idempotencyKey: "refund:o-1")
        let first = try await gateway.refund(request)
        guard case .refunded(_, let amount) = first else {
            Issue.record("expected a refund, got \(first)")
            return
        }
        #expect(amount == 12_000)
        #expect(try await gateway.refund(request) == first)
    }

    @Test("refunds never add up to more than the capture")
    func refundsBoundedByCapture() async throws {
        let gateway = SandboxGateway()
        let payment = try paymentID(of: try await charge("tok_approve", amount: 10_000, on: gateway))
        let tooMuch = try await gateway.refund(RefundRequest(paymentID: payment, amount: 10_001, idempotencyKey: "r0"))
        guard case .refused(let code, _) = tooMuch else {
            Issue.record("a refund above the capture was not refused: \(tooMuch)")
            return
        }
        #expect(code == "amount_exceeds_capture")
        #expect(
            try await gateway.refund(RefundRequest(paymentID: payment, amount: 6_000, idempotencyKey: "r1"))
                != tooMuch)
        let second = try await gateway.refund(RefundRequest(paymentID: payment, amount: 6_000, idempotencyKey: "r2"))
        guard case .refused(let left, _) = second else {
            Issue.record("refunds above the capture in total were not refused: \(second)")
            return
        }
        #expect(left == "amount_exceeds_capture")
        let rest = try await gateway.refund(RefundRequest(paymentID: payment, amount: 4_000, idempotencyKey: "r3"))
        #expect(rest.isRefunded)
    }

    @Test("a refund of an unknown capture is refused")
    func refundUnknownPayment() async throws {
        let result = try await SandboxGateway().refund(
            RefundRequest(paymentID: "pay_nowhere", amount: 1, idempotencyKey: "r"))
        guard case .refused(let code, _) = result else {
            Issue.record("expected a refusal, got \(result)")
            return
        }
        #expect(code == "unknown_payment")
    }
}

extension RefundResult {
    fileprivate var isRefunded: Bool {
        if case .refunded = self { return true }
        return false
    }
}
