import CommerceMessages
import Foundation
import Testing

/// Bad bodies and the typed error each must produce: never a crash, always the field.
@Suite struct ContractDecodingErrorTests {
    struct BadBody: Sendable, CustomTestStringConvertible {
        var name: String
        var type: String
        var body: String
        var code: ContractError.Code
        var field: String
        var testDescription: String { name }
    }

    /// `order.place` with one substitution applied to the contract's example (`Fixtures.designPlaceOrderBody`).
    static func place(
        _ name: String, replacing old: String, with new: String, _ code: ContractError.Code, _ field: String
    )
        -> BadBody
    {
        let body = Fixtures.designPlaceOrderBody.replacingOccurrences(of: old, with: new)
        precondition(body != Fixtures.designPlaceOrderBody, "substitution for \(name) did not apply")
        return BadBody(name: name, type: "order.place", body: body, code: code, field: field)
    }

    static let cases: [BadBody] = [
        BadBody(name: "unknown type", type: "order.teleport", body: "{}", code: .unknownType, field: ""),
        BadBody(name: "not JSON", type: "order.cancel", body: "order 1 please", code: .malformedJSON, field: ""),
        BadBody(
            name: "truncated JSON", type: "order.cancel", body: #"{"order_id":"o""#, code: .malformedJSON, field: ""),
        BadBody(name: "empty body", type: "order.cancel", body: "", code: .malformedJSON, field: ""),
        BadBody(name: "array body", type: "order.cancel", body: "[]", code: .wrongType, field: ""),
        BadBody(
            name: "missing reason", type: "order.cancel", body: #"{"order_id":"o"}"#, code: .missingField,
            field: "reason"),
        BadBody(
            name: "empty order id", type: "order.cancel", body: #"{"order_id":"","reason":""}"#, code: .invalidValue,
            field: "order_id"),
        BadBody(
            name: "null order id", type: "order.cancel", body: #"{"order_id":null,"reason":""}"#, code: .wrongType,
            field: "order_id"),
        place(
            "missing order_id", replacing: #""order_id": "5b0f8a3e-3c1d-4a8e-9d6b-2f1e7c9a0b11","#, with: "",
            .missingField, "order_id"),
        place("missing item sku", replacing: #""sku": "KB-001", "#, with: "", .missingField, "items[0].sku"),
        place(
            "missing customer email", replacing: #""email": "kim@example.com", "#, with: "", .missingField,
            "customer.email"),
        place(
            "missing postal code", replacing: #""postal_code": "06234","#, with: "", .missingField,
            "shipping_address.postal_code"),
        place(
            "quantity as string", replacing: #""quantity": 2"#, with: #""quantity": "2""#, .wrongType,
            "items[0].quantity"),
        place(
            "fractional quantity", replacing: #""quantity": 2"#, with: #""quantity": 2.5"#, .wrongType,
            "items[0].quantity"),
        place(
            "huge quantity", replacing: #""quantity": 2"#, with: #""quantity": 1e30"#, .invalidValue,
            "items[0].quantity"),
        place(
            "boolean price", replacing: #""unit_price": 45000"#, with: #""unit_price": true"#, .wrongType,
            "items[0].unit_price"),
        place(
            "negative price", replacing: #""unit_price": 45000"#, with: #""unit_price": -1"#, .negativeAmount,
            "items[0].unit_price"),
        place(
            "items not an array",
            replacing: #""items": [ { "sku": "KB-001", "name": "Keyboard", "quantity": 2, "unit_price": 45000 } ]"#,
            with: #""items": "KB-001""#, .wrongType, "items"),
        place(
            "lower-case currency", replacing: #""currency": "KRW""#, with: #""currency": "krw""#, .invalidCurrency,
            "currency"),
        place(
            "currency as number", replacing: #""currency": "KRW""#, with: #""currency": 410"#, .wrongType, "currency"),
        place(
            "four-letter currency", replacing: #""currency": "KRW""#, with: #""currency": "KRWX""#, .invalidCurrency,
            "currency"),
        place(
            "coupon as number", replacing: #""coupon_code": "SUMMER20""#, with: #""coupon_code": 20"#, .wrongType,
            "coupon_code"),
        BadBody(
            name: "unknown cancellation reason", type: "order.cancelled",
            body:
                #"{"order_id":"o","customer":{"id":"c","email":"e"},"currency":"KRW","amounts":{"subtotal":1,"coupon_discount":0,"membership_discount":0,"shipping_fee":0,"total":1},"reason":"bored","message":"","previous_status":"PENDING"}"#,
            code: .unknownEnumValue, field: "reason"),
        BadBody(
            name: "unknown previous status", type: "order.cancelled",
            body:
                #"{"order_id":"o","customer":{"id":"c","email":"e"},"currency":"KRW","amounts":{"subtotal":1,"coupon_discount":0,"membership_discount":0,"shipping_fee":0,"total":1},"reason":"timeout","message":"","previous_status":"SHIPPED"}"#,
            code: .unknownEnumValue, field: "previous_status"),
        BadBody(
            name: "negative amount in breakdown", type: "order.cancelled",
            body:
                #"{"order_id":"o","customer":{"id":"c","email":"e"},"currency":"KRW","amounts":{"subtotal":1,"coupon_discount":-5,"membership_discount":0,"shipping_fee":0,"total":1},"reason":"timeout","message":"","previous_status":"PENDING"}"#,
            code: .negativeAmount, field: "amounts.coupon_discount"),
        BadBody(
            name: "negative charge", type: "payment.succeeded",
            body: #"{"order_id":"o","payment_id":"p","currency":"KRW","amount":-100}"#, code: .negativeAmount,
            field: "amount"),
        BadBody(
            name: "empty payment id", type: "payment.refunded",
            body: #"{"order_id":"o","payment_id":"","currency":"KRW","amount":1,"reason":"timeout"}"#,
            code: .invalidValue, field: "payment_id"),
        BadBody(
            name: "zero stock quantity", type: "stock.released",
            body: #"{"order_id":"o","lines":[{"sku":"A","quantity":1},{"sku":"B","quantity":0}],"reason":"timeout"}"#,
            code: .invalidValue, field: "lines[1].quantity"),
        BadBody(
            name: "event line quantity below one", type: "order.placed",
            body:
                #"{"order_id":"o","customer":{"id":"c","email":"e"},"currency":"KRW","lines":[{"sku":"A","name":"A","quantity":0,"unit_price":1}],"shipping_address":{"street":"s","city":"c","postal_code":"p","country":"KR"},"payment_token":"t","amounts":{"subtotal":1,"coupon_discount":0,"membership_discount":0,"shipping_fee":0,"total":1}}"#,
            code: .invalidValue, field: "lines[0].quantity"),
        BadBody(
            name: "missing decline code", type: "payment.failed",
            body: #"{"order_id":"o","currency":"KRW","amount":1,"reason":"payment_declined","message":"m"}"#,
            code: .missingField, field: "decline_code"),
        BadBody(
            name: "shortage with negative availability", type: "stock.rejected",
            body:
                #"{"order_id":"o","reason":"out_of_stock","message":"m","shortages":[{"sku":"A","requested":1,"available":-1}]}"#,
            code: .invalidValue, field: "shortages[0].available"),
    ]

    @Test(arguments: cases)
    func badBodyIsATypedContractError(example: BadBody) {
        do {
            let message = try AnyMessage.decode(type: example.type, body: Array(example.body.utf8))
            Issue.record("\(example.name): decoded \(message.messageType) instead of failing")
        } catch {
            #expect(error.code == example.code, "\(example.name): \(error)")
            #expect(error.field == example.field, "\(example.name): \(error)")
            #expect(!error.message.isEmpty)
        }
    }

    @Test func oversizedBodyIsRejectedBeforeParsing() {
        let body = [UInt8](repeating: UInt8(ascii: " "), count: ContractCoding.maximumBodySize + 1)
        do {
            _ = try AnyMessage.decode(type: "order.cancel", body: body)
            Issue.record("decoded an oversized body")
        } catch {
            #expect(error.code == .bodyTooLarge)
        }
    }

    @Test func invalidUTF8IsMalformed() {
        do {
            _ = try AnyMessage.decode(type: "order.cancel", body: [0x7B, 0xFF, 0xFE, 0x7D])
            Issue.record("decoded invalid UTF-8")
        } catch {
            #expect(error.code == .malformedJSON)
        }
    }
}
