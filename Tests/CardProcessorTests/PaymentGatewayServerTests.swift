import CommerceTestKit
import Foundation
import NIOHTTP1
import Testing

/// The `payment-gateway` process over its real HTTP API and its own PostgreSQL database
/// (docs/payment-gateway.md): every test token, idempotency and its replays across a restart,
/// authentication, bad bodies, refund limits, lookups and fault injection.
@Suite("Payment gateway server")
struct PaymentGatewayServerTests {
    private func newKey(_ prefix: String = "charge") -> String { "\(prefix):order-\(UUID().uuidString.lowercased())" }

    @Test("each test token gives its outcome: captured, declined with its code, 503 then captured, captured late")
    func tokens() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "gateway-tokens")
        let cases: [(token: String, status: String, code: String?)] = [
            ("tok_approve", "captured", nil), ("tok_decline", "declined", "card_declined"),
            ("tok_insufficient_funds", "declined", "insufficient_funds"), ("tok_unknown", "declined", "invalid_token"),
            ("tok_transient_x", "declined", "invalid_token"), ("tok_slow_999999999", "declined", "invalid_token"),
        ]
        for (token, status, code) in cases {
            let answer = try await gateway.charge(token: token, key: newKey(), amount: 12_300, order: "order-\(token)")
            #expect(answer.status == 201, "\(token): \(answer.body)")
            #expect(answer.json["status"] as? String == status, "\(token): \(answer.body)")
            #expect(answer.json["decline_code"] as? String == code, "\(token): \(answer.body)")
            #expect(answer.json["amount"] as? Int == 12_300)
            #expect(answer.json["currency"] as? String == "KRW")
            #expect(answer.json["order_reference"] as? String == "order-\(token)")
            #expect((answer.json["id"] as? String)?.hasPrefix("ch_") == true)
        }

        let transientKey = newKey()
        for attempt in 1...2 {
            let failed = try await gateway.charge(token: "tok_transient_2", key: transientKey)
            #expect(failed.status == 503, "attempt \(attempt): \(failed.body)")
            #expect(failed.errorType == "processor_unavailable")
        }
        let captured = try await gateway.charge(token: "tok_transient_2", key: transientKey)
        #expect(captured.status == 201)
        #expect(captured.json["status"] as? String == "captured")
        // Another key has attempts of its own.
        #expect(try await gateway.charge(token: "tok_transient_2", key: newKey()).status == 503)

        let started = ContinuousClock.now
        let slow = try await gateway.charge(token: "tok_slow_400", key: newKey())
        #expect(ContinuousClock.now - started >= .milliseconds(400), "tok_slow_400 answers after 400 ms")
        #expect(slow.json["status"] as? String == "captured")
        #expect(gateway.stop() == 0, "SIGTERM stops the gateway with exit 0: \(gateway.log)")
    }

    @Test(
        "a reused key replays the stored answer with Idempotent-Replayed; other parameters get 409; racing requests capture once"
    )
    func idempotency() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "gateway-idempotency")
        let key = newKey()
        let first = try await gateway.charge(token: "tok_approve", key: key)
        #expect(first.status == 201)
        #expect(first.headers.first(name: "Idempotent-Replayed") == nil)
        let again = try await gateway.charge(token: "tok_approve", key: key)
        #expect(again.status == 201)
        #expect(again.body == first.body, "the stored answer, byte for byte")
        #expect(again.headers.first(name: "Idempotent-Replayed") == "true")
        // The same parameters in another order and spacing are the same request.
        let reordered = try await gateway.send(
            .POST, "/v1/charges",
            json:
                #"{ "order_reference": "order-1", "payment_token": "tok_approve", "currency": "KRW", "amount": 25000 }"#,
            key: key)
        #expect(reordered.status == 201 && reordered.body == first.body)
        let other = try await gateway.charge(token: "tok_approve", key: key, amount: 99)
        #expect(other.status == 409)
        #expect(other.errorType == "idempotency_key_reused")
        // A key is not shared between endpoints.
        let refundWithChargeKey = try await gateway.send(
            .POST, "/v1/refunds", json: #"{"charge":"\#(first.json["id"] as? String ?? "")","amount":1}"#, key: key)
        #expect(refundWithChargeKey.status == 409)

        // Two requests with one key at once: one charge, the same answer for both.
        let racingKey = newKey()
        async let one = gateway.charge(token: "tok_slow_300", key: racingKey)
        async let two = gateway.charge(token: "tok_slow_300", key: racingKey)
        let (a, b) = try await (one, two)
        #expect(a.status == 201 && b.status == 201, "\(a.body) / \(b.body)")
        #expect(a.json["id"] as? String == b.json["id"] as? String)
        #expect(try gateway.chargeRows(key: racingKey) == 1)
        #expect(try gateway.chargeRows() == 2)
    }

    @Test("authentication: 401 without a key, 403 with a wrong one; /health needs none; Idempotency-Key is required")
    func authentication() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "gateway-auth")
        let body = #"{"amount":100,"currency":"KRW","payment_token":"tok_approve","order_reference":"o"}"#
        let none = try await gateway.send(.POST, "/v1/charges", json: body, key: newKey(), authorization: "")
        #expect(none.status == 401)
        #expect(none.errorType == "authentication_required")
        let basic = try await gateway.send(.POST, "/v1/charges", json: body, key: newKey(), authorization: "Basic abc")
        #expect(basic.status == 401)
        let wrong = try await gateway.send(
            .POST, "/v1/charges", json: body, key: newKey(), authorization: "Bearer sk_test_wrong")
        #expect(wrong.status == 403)
        #expect(wrong.errorType == "invalid_api_key")
        #expect(!wrong.body.contains(gateway.apiKey))
        let lookup = try await gateway.send(.GET, "/v1/charges?idempotency_key=x", authorization: "")
        #expect(lookup.status == 401)
        let health = try await gateway.send(.GET, "/health", authorization: "")
        #expect(health.status == 200)
        let keyless = try await gateway.send(.POST, "/v1/charges", json: body)
        #expect(keyless.status == 400)
        #expect(keyless.errorType == "missing_idempotency_key")
        #expect(try gateway.chargeRows() == 0)
        #expect(!gateway.log.contains(gateway.apiKey), "the API key is never logged")
    }

    @Test("oversized, malformed, ill-typed and non-JSON bodies get 413/400/415 JSON errors and the server stays up")
    func badBodies() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(
            databaseURL: database.url, name: "gateway-bodies", environment: ["REQUEST_MAX_BODY_BYTES": "2048"])
        let big =
            #"{"amount":100,"currency":"KRW","payment_token":"tok_approve","order_reference":""#
            + String(repeating: "x", count: 4_000) + #""}"#
        let oversized = try await gateway.send(.POST, "/v1/charges", json: big, key: newKey())
        #expect(oversized.status == 413)
        #expect(oversized.errorType == "request_too_large")
        // `type` nil: any error type. Foundation on Linux calls 1.5 or 10²³ for an integer invalid JSON.
        let cases: [(body: String, status: Int, type: String?)] = [
            ("{not json", 400, "invalid_json"),
            ("", 400, "invalid_json"),
            ("[1,2,3]", 400, "invalid_request"),
            (
                #"{"amount":"100","currency":"KRW","payment_token":"tok_approve","order_reference":"o"}"#, 400,
                "invalid_request"
            ),
            (#"{"amount":1.5,"currency":"KRW","payment_token":"tok_approve","order_reference":"o"}"#, 400, nil),
            (
                #"{"amount":99999999999999999999999,"currency":"KRW","payment_token":"tok_approve","order_reference":"o"}"#,
                400, nil
            ),
            (#"{"currency":"KRW","payment_token":"tok_approve","order_reference":"o"}"#, 400, "invalid_request"),
            (
                #"{"amount":0,"currency":"KRW","payment_token":"tok_approve","order_reference":"o"}"#, 400,
                "invalid_request"
            ),
            (
                #"{"amount":-5,"currency":"KRW","payment_token":"tok_approve","order_reference":"o"}"#, 400,
                "invalid_request"
            ),
            (
                #"{"amount":100,"currency":"KRWX","payment_token":"tok_approve","order_reference":"o"}"#, 400,
                "invalid_request"
            ),
            (
                #"{"amount":100,"currency":"KRW","payment_token":"tok\u0000","order_reference":"o"}"#, 400,
                "invalid_request"
            ),
            (#"{"amount":100,"currency":"KRW","payment_token":"","order_reference":"o"}"#, 400, "invalid_request"),
            ("\u{FF}\u{FE}\u{00}garbage", 400, "invalid_json"),
        ]
        for (body, status, type) in cases {
            let answer = try await gateway.send(.POST, "/v1/charges", json: body, key: newKey())
            #expect(answer.status == status, "\(body.prefix(60)): \(answer.body)")
            #expect(
                answer.errorType != nil && (type == nil || answer.errorType == type),
                "\(body.prefix(60)): \(answer.body)")
        }
        let text = try await gateway.send(
            .POST, "/v1/charges", json: "amount=100", key: newKey(), contentType: "text/plain")
        #expect(text.status == 415)
        #expect(text.errorType == "unsupported_media_type")
        let refund = try await gateway.send(.POST, "/v1/refunds", json: #"{"charge":5}"#, key: newKey("refund"))
        #expect(refund.status == 400)
        let unknownRoute = try await gateway.send(.GET, "/v1/nothing")
        #expect(unknownRoute.status == 404)
        #expect(unknownRoute.errorType != nil, "JSON errors on unknown routes too: \(unknownRoute.body)")
        #expect(try gateway.chargeRows() == 0)
        #expect(try await gateway.send(.GET, "/health").status == 200)
        #expect(gateway.process?.process.isRunning == true)
    }

    @Test(
        "refunds never exceed the capture, replay by key, refuse unknown and declined charges; concurrent refunds too")
    func refunds() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "gateway-refunds")
        let captured = try await gateway.charge(token: "tok_approve", key: newKey(), amount: 25_000)
        let chargeID = try #require(captured.json["id"] as? String)
        func refund(_ amount: Int, key: String, charge: String? = nil) async throws -> GatewayExchange {
            try await gateway.send(
                .POST, "/v1/refunds", json: #"{"charge":"\#(charge ?? chargeID)","amount":\#(amount)}"#, key: key)
        }
        let firstKey = newKey("refund")
        let first = try await refund(10_000, key: firstKey)
        #expect(first.status == 201, "\(first.body)")
        #expect(first.json["amount"] as? Int == 10_000)
        #expect(first.json["charge"] as? String == chargeID)
        let replay = try await refund(10_000, key: firstKey)
        #expect(replay.status == 201 && replay.body == first.body)
        #expect(replay.headers.first(name: "Idempotent-Replayed") == "true")
        let tooMuch = try await refund(20_000, key: newKey("refund"))
        #expect(tooMuch.status == 402)
        #expect(tooMuch.errorType == "amount_exceeds_capture")
        #expect(try await refund(15_000, key: newKey("refund")).status == 201)
        #expect(try await refund(1, key: newKey("refund")).errorType == "amount_exceeds_capture")
        let unknown = try await refund(1, key: newKey("refund"), charge: "ch_nothing")
        #expect(unknown.status == 404)
        #expect(unknown.errorType == "resource_missing")
        let declined = try await gateway.charge(token: "tok_decline", key: newKey())
        let declinedRefund = try await refund(1, key: newKey("refund"), charge: declined.json["id"] as? String)
        #expect(declinedRefund.status == 402)
        let shown = try await gateway.send(.GET, "/v1/charges/\(chargeID)")
        #expect(shown.json["amount_refunded"] as? Int == 25_000)

        // Five refunds of 10,000 at once on a capture of 25,000: exactly two go through.
        let other = try await gateway.charge(token: "tok_approve", key: newKey(), amount: 25_000)
        let otherID = try #require(other.json["id"] as? String)
        let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<5 {
                group.addTask { try await refund(10_000, key: "refund:\(UUID().uuidString)", charge: otherID).status }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.filter { $0 == 201 }.count == 2, "\(statuses)")
        #expect(statuses.filter { $0 == 402 }.count == 3, "\(statuses)")
        #expect(try await gateway.send(.GET, "/v1/charges/\(otherID)").json["amount_refunded"] as? Int == 20_000)
    }

    @Test("charges are found by id and by idempotency key; 404 for unknown ones; 400 for an empty key")
    func lookups() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "gateway-lookup")
        let key = newKey()
        let created = try await gateway.charge(token: "tok_decline", key: key)
        let id = try #require(created.json["id"] as? String)
        let byKey = try await gateway.send(
            .GET, "/v1/charges?idempotency_key=\(key.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)")
        #expect(byKey.status == 200)
        #expect(byKey.json["id"] as? String == id)
        #expect(byKey.json["decline_code"] as? String == "card_declined")
        #expect(try await gateway.send(.GET, "/v1/charges/\(id)").json["id"] as? String == id)
        #expect(try await gateway.send(.GET, "/v1/charges?idempotency_key=charge:none").status == 404)
        #expect(try await gateway.send(.GET, "/v1/charges/ch_none").errorType == "resource_missing")
        // Without a key, `GET /v1/charges` is the listing (PaymentGatewayListingTests); an empty key is refused.
        #expect(try await gateway.send(.GET, "/v1/charges").json["object"] as? String == "list")
        #expect(try await gateway.send(.GET, "/v1/charges?idempotency_key=").status == 400)
        // A key that only ever got 503s has no charge.
        let transient = newKey()
        #expect(try await gateway.charge(token: "tok_transient_1", key: transient).status == 503)
        #expect(try await gateway.send(.GET, "/v1/charges?idempotency_key=\(transient)").status == 404)
    }

    @Test("restarted between a charge and its retry, the gateway replays the same charge; transient counts survive")
    func restart() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "gateway-restart")
        let key = newKey()
        let before = try await gateway.charge(token: "tok_approve", key: key)
        #expect(before.status == 201)
        let transientKey = newKey()
        #expect(try await gateway.charge(token: "tok_transient_3", key: transientKey).status == 503)
        #expect(try await gateway.charge(token: "tok_transient_3", key: transientKey).status == 503)

        #expect(gateway.stop() == 0)
        try gateway.start()

        let after = try await gateway.charge(token: "tok_approve", key: key)
        #expect(after.status == 201)
        #expect(after.json["id"] as? String == before.json["id"] as? String, "the same charge, not a second capture")
        #expect(after.headers.first(name: "Idempotent-Replayed") == "true")
        #expect(try gateway.chargeRows(key: key) == 1)
        #expect(try await gateway.charge(token: "tok_transient_3", key: transientKey).status == 503, "third of three")
        let captured = try await gateway.charge(token: "tok_transient_3", key: transientKey)
        #expect(captured.status == 201)
        #expect(captured.json["status"] as? String == "captured")
    }

    @Test("fault injection from the admin listener: error rate 1 answers 503, back to 0 it charges; latency is added")
    func faultInjection() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "gateway-faults")
        let set = try await gateway.send(.PUT, "/admin/faults", json: #"{"error_rate":1.0}"#, admin: true)
        #expect(set.status == 200, "\(set.body)")
        #expect(set.json["error_rate"] as? Double == 1.0)
        for _ in 0..<5 {
            let answer = try await gateway.charge(token: "tok_approve", key: newKey())
            #expect(answer.status == 503)
            #expect(answer.errorType == "processor_unavailable")
        }
        #expect(try await gateway.send(.GET, "/health").status == 200, "health reports the database, not the faults")
        #expect(try await gateway.send(.GET, "/admin/faults", admin: true).json["error_rate"] as? Double == 1.0)
        let invalid = try await gateway.send(.PUT, "/admin/faults", json: #"{"error_rate":2}"#, admin: true)
        #expect(invalid.status == 400)
        #expect(
            try await gateway.send(.PUT, "/admin/faults", json: #"{"error_rate":0,"latency_ms":300}"#, admin: true)
                .status == 200)
        let started = ContinuousClock.now
        let charged = try await gateway.charge(token: "tok_approve", key: newKey())
        #expect(charged.status == 201)
        #expect(ContinuousClock.now - started >= .milliseconds(300), "the added latency")
        #expect(try gateway.chargeRows() == 1, "no 503 did anything")
        let metrics = try await gateway.send(.GET, "/metrics", authorization: "")
        #expect(metrics.body.contains("gateway_http_requests_total"))
        #expect(metrics.body.contains(#"status="503""#))
    }
}
