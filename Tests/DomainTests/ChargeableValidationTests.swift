import CommerceDomain
import CommerceMessages
import Testing

/// The card processor's limits, checked where the order is placed
/// (``OrderValidationCheck/chargeable``): a payment token and an amount the processor would
/// refuse on every attempt make `order.rejected`, not an order that holds stock for nothing.
@Suite struct ChargeableValidationTests {
    let validator = OrderValidator(coupons: Fixtures.catalog)

    func request(token: String?, quantity: Int = 2, unitPrice: Int = 45_000) -> OrderRequest {
        OrderRequest(
            orderID: "o-1", customerID: "c-1", customerEmail: "kim@example.com",
            lines: [OrderRequest.Line(productID: "KB-001", name: "Keyboard", quantity: quantity, unitPrice: unitPrice)],
            shippingAddress: Fixtures.address, paymentToken: token)
    }

    @Test(
        "a token the processor refuses is invalid_payment_token",
        arguments: ["", String(repeating: "t", count: 256), "tok_\u{0}approve", "tok\napprove", "tok_\u{85}x"])
    func refusedToken(token: String) {
        let report = validator.validate(request(token: token))
        #expect(report.failures.map(\.code) == [.invalidPaymentToken], "\(report.failures)")
        #expect(report.failures.first?.field == "payment_token")
    }

    @Test(
        "a token the processor takes passes, whatever it means to the processor",
        arguments: ["tok_approve", "tok_decline", "x", String(repeating: "t", count: 255), "토큰-🧨"])
    func acceptedToken(token: String) {
        #expect(validator.validate(request(token: token)).isValid)
    }

    @Test("a request without a token (a quote) is not checked for one")
    func noToken() {
        #expect(validator.validate(request(token: nil)).isValid)
    }

    @Test("the total may reach the processor's maximum charge and not pass it")
    func maximumCharge() {
        #expect(OrderValidationCheck.maximumChargeAmount == 1_000_000_000_000)
        #expect(validator.validate(request(token: "tok_approve", quantity: 1_000, unitPrice: 1_000_000_000)).isValid)
        let over = validator.validate(request(token: "tok_approve", quantity: 1_000, unitPrice: 1_000_000_001))
        #expect(over.failures.map(\.code) == [.amountTooLarge], "\(over.failures)")
        #expect(over.failures.first?.field == "items")
    }

    @Test("an overflowing total is reported once, by the total check")
    func overflowIsNotTooLarge() {
        let report = validator.validate(request(token: "tok_approve", quantity: 3, unitPrice: Int.max / 2))
        #expect(report.failures.map(\.code) == [.amountOverflow])
    }

    @Test("order.place hands its token to the validation")
    func commandCarriesToken() {
        var command = Fixtures.placeOrder
        command.paymentToken = ""
        #expect(command.orderRequest.paymentToken == "")
        #expect(validator.validate(command.orderRequest).failures.map(\.code).contains(.invalidPaymentToken))
    }
}
