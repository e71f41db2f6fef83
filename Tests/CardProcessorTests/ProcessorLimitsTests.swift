import CommerceDomain
import CommerceTestKit
import Foundation
import Testing

/// The order validation's copy of the card processor's limits (``OrderValidationCheck/chargeable``,
/// docs/payment-gateway.md, "Limits") against the real `payment-gateway`: what the validation lets
/// through the processor takes, and what the validation rejects the processor would refuse. If
/// either side's limits move, this fails.
@Suite("The card processor's limits, as the order validation knows them")
struct ProcessorLimitsTests {
    /// `POST /v1/charges` with a JSON-escaped token.
    private func charge(_ gateway: GatewayProcess, amount: Int, token: String) async throws -> GatewayExchange {
        let body: [String: Any] = [
            "amount": amount, "currency": "KRW", "payment_token": token, "order_reference": "order-limits",
        ]
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        return try await gateway.send(
            .POST, "/v1/charges", json: json, key: "charge:limits-\(UUID().uuidString.lowercased())")
    }

    @Test("the largest amount and the longest token the validation accepts are charged; one more is refused")
    func limitsAgree() async throws {
        let database = try TestDatabase(prefix: "gw")
        let gateway = try GatewayProcess(databaseURL: database.url, name: "gateway-limits")
        let maximum = OrderValidationCheck.maximumChargeAmount
        let atMaximum = try await charge(gateway, amount: maximum, token: "tok_approve")
        #expect(atMaximum.status == 201 && atMaximum.json["status"] as? String == "captured", "\(atMaximum.body)")
        let above = try await charge(gateway, amount: maximum + 1, token: "tok_approve")
        #expect(above.status == 400 && above.errorType == "invalid_request", "\(above.body)")

        let validator = OrderValidator()
        func validates(_ token: String) -> Bool {
            let request = OrderRequest(
                orderID: "o-1", customerID: "c-1", customerEmail: "kim@example.com",
                lines: [OrderRequest.Line(productID: "KB-001", name: "Keyboard", quantity: 1, unitPrice: 1_000)],
                shippingAddress: Address(street: "Teheran-ro 123", city: "Seoul", postalCode: "06234", country: "KR"),
                paymentToken: token)
            return validator.validate(request).isValid
        }
        let longest = String(repeating: "t", count: OrderValidationCheck.maximumPaymentTokenLength)
        for token in [longest, "토큰-🧨", "tok_approve"] {
            #expect(validates(token))
            let answer = try await charge(gateway, amount: 1_000, token: token)
            #expect(answer.status == 201, "\(token.prefix(20)): \(answer.body)")
        }
        for token in ["", longest + "t", "tok_\u{0}approve", "tok\napprove", "tok_\u{85}x"] {
            #expect(!validates(token))
            let answer = try await charge(gateway, amount: 1_000, token: token)
            #expect(
                answer.status == 400 && answer.errorType == "invalid_request", "\(token.prefix(20)): \(answer.body)")
        }
        #expect(gateway.stop() == 0)
    }
}
