import CommerceDomain
import CommerceMessages
import Foundation
import Testing

/// How the order-worker reads `order.place` (``PlaceOrder/read(envelope:body:)``): a command that
/// names its order is answered, whatever else is wrong with it; only one that names no order is
/// refused (and dead-lettered).
@Suite struct PlaceOrderReadingTests {
    static let orderID = Fixtures.orderID

    static func envelope(correlationID: String? = orderID, contentType: String = "application/json") -> Envelope {
        Envelope(
            correlationID: correlationID ?? "", type: MessageType.orderPlace.rawValue, appID: "storefront",
            contentType: contentType)
    }

    /// The fixture's command as a JSON object, with `edit` applied.
    static func body(_ edit: (inout [String: Any]) -> Void = { _ in }) -> [UInt8] {
        var object = try! JSONSerialization.jsonObject(with: Data(Fixtures.placeOrder.encodedBody())) as! [String: Any]
        edit(&object)
        return Array(try! JSONSerialization.data(withJSONObject: object))
    }

    static func read(_ body: [UInt8], correlationID: String? = orderID) throws -> PlaceOrder.Reading {
        try PlaceOrder.read(envelope: envelope(correlationID: correlationID), body: body)
    }

    static func invalid(_ body: [UInt8], correlationID: String? = orderID) throws -> InvalidPlaceOrder {
        guard case .invalid(let invalid) = try read(body, correlationID: correlationID) else {
            Issue.record("expected an invalid command")
            throw CancellationError()
        }
        return invalid
    }

    @Test func aValidCommandIsValid() throws {
        #expect(try Self.read(Fixtures.placeOrder.encodedBody()) == .valid(Fixtures.placeOrder))
    }

    @Test("the two commands of the report that went unanswered: a bad currency, a negative price")
    func reportedCommands() throws {
        let currency = try Self.invalid(Self.body { $0["currency"] = "XXX1" })
        #expect(currency.violations.map { [$0.code, $0.field] } == [["invalid_currency", "currency"]])
        #expect(currency.currency == nil)
        #expect(currency.customer == Fixtures.customer, "the customer is still told")
        let price = try Self.invalid(
            Self.body { $0["items"] = [["sku": "KB-001", "name": "Keyboard", "quantity": 1, "unit_price": -5]] })
        #expect(price.violations.map { [$0.code, $0.field] } == [["negative_amount", "items[0].unit_price"]])
        #expect(price.currency == .krw)
    }

    @Test("every part that breaks the contract is listed, in the body's order, with the envelope's last")
    func everyViolation() throws {
        let invalid = try Self.invalid(
            Self.body {
                $0["customer"] = "kim"
                $0["currency"] = 410
                $0["items"] = [
                    ["sku": "A", "name": "A", "quantity": 1, "unit_price": 1],
                    ["sku": "B", "name": "B", "quantity": "1", "unit_price": 1],
                    ["sku": "C", "name": "C", "quantity": 1],
                ]
                $0["shipping_address"] = nil
                $0["payment_token"] = NSNull()
                $0["coupon_code"] = 5
            }, correlationID: nil)
        #expect(
            invalid.violations.map { [$0.code, $0.field] } == [
                ["wrong_type", "customer"], ["wrong_type", "currency"], ["wrong_type", "items[1].quantity"],
                ["missing_field", "items[2].unit_price"], ["missing_field", "shipping_address"],
                ["wrong_type", "payment_token"], ["wrong_type", "coupon_code"],
                ["correlation_mismatch", "correlation_id"],
            ])
        let rejected = invalid.rejection
        #expect(rejected.orderID == Self.orderID && rejected.reason == .invalidOrder)
        #expect(rejected.customer == nil && rejected.currency == nil)
        #expect(rejected.violations == invalid.violations)
        #expect(rejected.message.contains("wrong_type at customer"))
        // The rejection without customer and currency is a message of the contract.
        #expect(try OrderRejected.decode(from: rejected.encodedBody()) == rejected)
    }

    @Test(
        "a correlation_id that is absent or another order's makes a valid body a rejected command",
        arguments: [nil, "", "another-order"])
    func correlation(correlationID: String?) throws {
        let invalid = try Self.invalid(Fixtures.placeOrder.encodedBody(), correlationID: correlationID)
        #expect(invalid.violations.map(\.code) == ["correlation_mismatch"])
        #expect(invalid.violations.map(\.field) == ["correlation_id"])
        #expect(invalid.customer == Fixtures.customer && invalid.currency == .krw)
        #expect(invalid.canonicalBody == Fixtures.placeOrder.encodedBody(), "the valid command's fingerprint")
    }

    @Test("the fingerprint ignores white space and key order, not content")
    func canonicalBody() throws {
        let compact = Array(#"{"order_id":"\#(Self.orderID)","currency":"XXX1","items":[]}"#.utf8)
        let spaced = Array(#"{ "items": [ ], "currency": "XXX1",  "order_id": "\#(Self.orderID)" }"#.utf8)
        let other = Array(#"{"order_id":"\#(Self.orderID)","currency":"XXX2","items":[]}"#.utf8)
        #expect(try Self.invalid(compact).canonicalBody == Self.invalid(spaced).canonicalBody)
        #expect(try Self.invalid(compact).canonicalBody != Self.invalid(other).canonicalBody)
    }

    @Test(
        "a command that names no order is refused with the reason",
        arguments: [
            (#"{"order_id": "x", "#, "malformed_json"), ("[1, 2]", "wrong_type"), ("{}", "missing_field"),
            (#"{"order_id": null}"#, "wrong_type"), (#"{"order_id": 7}"#, "wrong_type"),
            (#"{"order_id": ""}"#, "invalid_value"),
            (#"{"order_id": "\#(String(repeating: "o", count: 129))"}"#, "invalid_value"),
        ])
    func unreadable(body: String, code: String) {
        #expect {
            try PlaceOrder.read(envelope: Self.envelope(correlationID: "x"), body: Array(body.utf8))
        } throws: { error in
            (error as? ContractError)?.code.name == code
        }
    }

    @Test("a body that is not declared JSON is not read")
    func contentType() {
        #expect {
            try PlaceOrder.read(
                envelope: Self.envelope(contentType: "text/plain"), body: Fixtures.placeOrder.encodedBody())
        } throws: { error in
            (error as? ContractError)?.code == .unsupportedContentType
        }
    }
}
