import CommerceDomain
import CommerceMessages
import CommerceTestKit
import Foundation
import Logging
import Payments
import PaymentsHTTP
import Resilience
import Testing
import WorkerRuntime

/// The payment worker's HTTP adapter (`HTTPPaymentGateway`) against a real `payment-gateway`
/// process: results, retries with backoff, timeouts, permanent rejections and the health probe.
@Suite("Payment gateway HTTP adapter")
struct PaymentsHTTPAdapterTests {
    /// An adapter to `gateway` with fast retries: `attempts` per call, `timeout` per attempt.
    private func adapter(
        _ gateway: GatewayProcess, apiKey: String? = nil, timeout: Duration = .seconds(5), attempts: Int = 3
    ) -> HTTPPaymentGateway {
        HTTPPaymentGateway(
            configuration: HTTPPaymentGateway.Configuration(
                baseURL: gateway.baseURL, apiKey: apiKey ?? gateway.apiKey, timeout: timeout,
                retry: RetryPolicy(
                    maximumAttempts: attempts,
                    backoff: Backoff(initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200))),
                concurrency: 8),
            logger: Logger(label: "adapter-test"))
    }

    private func request(_ token: String, orderID: String = "order-\(UUID().uuidString.lowercased())") -> ChargeRequest
    {
        ChargeRequest(
            orderID: orderID, amount: 25_000, currency: .krw, paymentToken: token,
            idempotencyKey: ChargeRequest.idempotencyKey(orderID: orderID))
    }

    @Test("captured, declined, and transient-then-captured through the retries; lookup and refunds by key")
    func results() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "adapter-results")
        let client = adapter(gateway)
        do {
            let approve = request("tok_approve")
            guard case .captured(let paymentID) = try await client.charge(approve) else {
                Issue.record("tok_approve was not captured")
                try await client.shutdown()
                return
            }
            #expect(
                try await client.charge(approve) == .captured(paymentID: paymentID), "the same key, the same charge")
            #expect(try await client.lookup(idempotencyKey: approve.idempotencyKey) == .captured(paymentID: paymentID))
            #expect(try await client.lookup(idempotencyKey: "charge:order-never") == nil)

            let declined = try await client.charge(request("tok_insufficient_funds"))
            guard case .declined(let code, _) = declined else {
                Issue.record("expected a decline, got \(declined)")
                try await client.shutdown()
                return
            }
            #expect(code == "insufficient_funds")

            // Two 503s, then a capture, within the adapter's three attempts.
            let transient = request("tok_transient_2")
            guard case .captured = try await client.charge(transient) else {
                Issue.record("tok_transient_2 was not captured within 3 attempts")
                try await client.shutdown()
                return
            }
            #expect(try gateway.chargeRows(key: transient.idempotencyKey) == 1)

            let refund = RefundRequest(
                paymentID: paymentID, amount: 25_000, idempotencyKey: "refund:\(approve.orderID)")
            let refunded = try await client.refund(refund)
            guard case .refunded(let refundID, let amount) = refunded else {
                Issue.record("the refund was refused: \(refunded)")
                try await client.shutdown()
                return
            }
            #expect(amount == 25_000)
            let replayed = try await client.refund(refund)
            #expect(replayed == .refunded(refundID: refundID, amount: 25_000), "replayed")
            let more = RefundRequest(paymentID: paymentID, amount: 1, idempotencyKey: "refund:more:\(approve.orderID)")
            guard case .refused(let refusal, _) = try await client.refund(more) else {
                Issue.record("a refund above the capture went through")
                try await client.shutdown()
                return
            }
            #expect(refusal == "amount_exceeds_capture")
            let unknown = RefundRequest(paymentID: "ch_nothing", amount: 1, idempotencyKey: "refund:unknown")
            guard case .refused("unknown_payment", _) = try await client.refund(unknown) else {
                Issue.record("a refund of an unknown charge was not refused")
                try await client.shutdown()
                return
            }
            try await client.checkHealth()
        } catch {
            Issue.record("adapter call failed: \(error)")
        }
        try await client.shutdown()
    }

    @Test(
        "more 503s than attempts, an answer slower than the timeout, an error rate of 1: GatewayError after the retries"
    )
    func transientFailures() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "adapter-transient")
        let client = adapter(gateway, timeout: .milliseconds(300), attempts: 3)
        await #expect(throws: GatewayError.self) { try await client.charge(request("tok_transient_5")) }
        // 30 s: far longer than the three attempts take, even on a busy machine, so no attempt
        // can find the first one's answer stored and get it replayed.
        let started = ContinuousClock.now
        do {
            let answer = try await client.charge(request("tok_slow_30000"))
            Issue.record("tok_slow_30000 answered within a 300 ms timeout: \(answer)")
        } catch {
            #expect(error is GatewayError, "\(error)")
            #expect("\(error)".contains("3 time(s)"), "\(error)")
        }
        let elapsed = ContinuousClock.now - started
        #expect(elapsed >= .milliseconds(900) && elapsed < .seconds(20), "three attempts of 300 ms each: \(elapsed)")

        _ = try await gateway.send(.PUT, "/admin/faults", json: #"{"error_rate":1}"#, admin: true)
        await #expect(throws: GatewayError.self) { try await client.lookup(idempotencyKey: "charge:any") }
        _ = try await gateway.send(.PUT, "/admin/faults", json: #"{"error_rate":0}"#, admin: true)
        #expect(try await client.lookup(idempotencyKey: "charge:any") == nil)
        try await client.shutdown()
    }

    @Test(
        "Retry-After of a 503 is waited out between attempts; one longer than the longest backoff ends the call at once"
    )
    func retryAfter() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(
            databaseURL: database.url, name: "adapter-retry-after",
            environment: ["FAULTS_ERROR_RATE": "1", "FAULTS_RETRY_AFTER_SECONDS": "1"])
        // Backoff of 20 ms up to 2 s: without the header the three attempts take well under a second.
        let client = HTTPPaymentGateway(
            configuration: HTTPPaymentGateway.Configuration(
                baseURL: gateway.baseURL, apiKey: gateway.apiKey, timeout: .seconds(5),
                retry: RetryPolicy(
                    maximumAttempts: 3, backoff: Backoff(initialDelay: .milliseconds(20), maximumDelay: .seconds(2))),
                concurrency: 8),
            logger: Logger(label: "adapter-test"))
        var started = ContinuousClock.now
        await #expect(throws: GatewayError.self) { try await client.charge(request("tok_approve")) }
        var elapsed = ContinuousClock.now - started
        #expect(elapsed >= .seconds(2), "two waits of at least the 1 s asked for: \(elapsed)")

        _ = try await gateway.send(.PUT, "/admin/faults", json: #"{"retry_after_s":30}"#, admin: true)
        started = ContinuousClock.now
        do {
            let answer = try await client.charge(request("tok_approve"))
            Issue.record("charged through an error rate of 1: \(answer)")
        } catch {
            #expect(error is GatewayError, "\(error)")
            #expect("\(error)".contains("retry after 30 s"), "\(error)")
        }
        elapsed = ContinuousClock.now - started
        #expect(elapsed < .seconds(20), "one attempt, no 30 s wait inside the call: \(elapsed)")

        _ = try await gateway.send(.PUT, "/admin/faults", json: #"{"error_rate":0,"retry_after_s":-1}"#, admin: true)
        if case .captured = try await client.charge(request("tok_approve")) {
        } else {
            Issue.record("tok_approve was not captured once the faults were off")
        }
        try await client.shutdown()
    }

    @Test("Retry-After reads delta-seconds and HTTP dates; anything else is ignored")
    func retryAfterParsing() {
        let now = Date(timeIntervalSince1970: 1_796_000_000)
        #expect(HTTPPaymentGateway.retryAfter("7", now: now) == .seconds(7))
        #expect(HTTPPaymentGateway.retryAfter(" 0 ", now: now) == .zero)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let inTenSeconds = formatter.string(from: now.addingTimeInterval(10))
        #expect(HTTPPaymentGateway.retryAfter(inTenSeconds, now: now) == .seconds(10), "\(inTenSeconds)")
        #expect(HTTPPaymentGateway.retryAfter(formatter.string(from: now.addingTimeInterval(-60)), now: now) == .zero)
        for unreadable in [nil, "", "-3", "soon", "1.5"] {
            #expect(HTTPPaymentGateway.retryAfter(unreadable, now: now) == nil, "\(unreadable ?? "nil")")
        }
    }

    @Test(
        "401 and 403 are an outage of the processor (the API key refused), not retried; checkHealth throws GatewayError once the gateway is stopped"
    )
    func rejectionsAndHealth() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "adapter-rejections")
        for key in ["", "sk_test_wrong"] {
            let client = adapter(gateway, apiKey: key)
            do {
                _ = try await client.charge(request("tok_approve"))
                Issue.record("a charge without the right key went through")
            } catch {
                // Not the message's fault: the worker pauses (DependencyOutage) rather than dead-lettering.
                let outage = error as? DependencyOutage
                #expect(outage?.dependency == "payment gateway", "\(error)")
                #expect(outage?.message.contains(key.isEmpty ? "401" : "403") == true, "\(error)")
            }
            try await client.shutdown()
        }
        #expect(try gateway.chargeRows() == 0)

        let client = adapter(gateway)
        try await client.checkHealth()
        #expect(gateway.stop() == 0)
        await #expect(throws: GatewayError.self) { try await client.checkHealth() }
        await #expect(throws: GatewayError.self) { try await client.charge(request("tok_approve")) }
        try await client.shutdown()
    }

    @Test(
        "a 400 is a GatewayRefusal with the processor's error type, sent once; a refusal counts as a success for the circuit breaker, so refusals never open it"
    )
    func refusals() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "adapter-refusals")
        let client = adapter(gateway)
        for token in ["", String(repeating: "t", count: 256)] {
            do {
                _ = try await client.charge(request(token))
                Issue.record("a charge with a token of \(token.count) characters went through")
            } catch let refusal as GatewayRefusal {
                #expect(refusal.status == 400)
                #expect(refusal.type == "invalid_request")
                #expect(refusal.message.contains("payment_token"), "\(refusal.message)")
                #expect(HandlingFailure.classify(refusal).reason == "gateway_rejected_request")
                #expect(HandlingFailure.classify(refusal).failureClass == .permanent)
            } catch {
                Issue.record("expected a GatewayRefusal, got \(error)")
            }
        }
        #expect(try gateway.chargeRows() == 0, "nothing stored")
        // Through the payment handler, with a breaker that one failure would open: each refusal
        // is that payment's decline, and the circuit stays closed.
        let breaker = CircuitBreaker(configuration: .init(failureThreshold: 1, openTimeout: .seconds(60)))
        let handler = PaymentHandler(gateway: client, breaker: breaker)
        for _ in 0..<3 {
            let reserved = StockReserved(
                orderID: "order-\(UUID().uuidString.lowercased())", customerID: "c-1",
                lines: [StockLine(sku: "SKU-1", quantity: 1)], currency: .krw, amount: 25_000, paymentToken: "")
            let envelope = Envelope(correlationID: reserved.orderID, type: "stock.reserved", appID: "test")
            let prepared = try await handler.prepare(.stockReserved(reserved), envelope: envelope, attempts: 0)
            guard case .charge(.declined(let code, _)) = prepared else {
                Issue.record("expected a decline, got \(prepared)")
                continue
            }
            #expect(code == "invalid_request")
        }
        #expect(breaker.state == .closed)
        try await client.shutdown()
    }
}
