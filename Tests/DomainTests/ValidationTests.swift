import CommerceDomain
import Testing

@Suite struct ValidationTests {
    let validator = OrderValidator(coupons: Fixtures.catalog)

    static func request(
        lines: [OrderRequest.Line] = [
            OrderRequest.Line(productID: "KB-001", name: "Keyboard", quantity: 2, unitPrice: 45_000)
        ],
        email: String = "kim@example.com", currency: String = "KRW", country: String = "KR", couponCode: String? = nil
    ) -> OrderRequest {
        OrderRequest(
            orderID: "o-1", customerID: "c-1", customerEmail: email, currency: currency, lines: lines,
            shippingAddress: Address(street: "Teheran-ro 123", city: "Seoul", postalCode: "06234", country: country),
            couponCode: couponCode)
    }

    static func line(_ sku: String = "A", quantity: Int = 1, price: Int = 1_000, currency: String = "KRW")
        -> OrderRequest.Line
    {
        OrderRequest.Line(productID: sku, name: sku, quantity: quantity, unitPrice: price, currency: currency)
    }

    @Test func validRequestPassesAndBuildsAMergedOrder() throws {
        let request = Self.request(lines: [Self.line("A", quantity: 1), Self.line("A", quantity: 2), Self.line("B")])
        #expect(validator.validate(request).isValid)
        let order = try validator.makeOrder(from: request)
        #expect(order.items.map(\.quantity) == [3, 1])
        #expect(order.total == Fixtures.krw(4_000))
    }

    /// One rule per row: the request, the expected failure code and field.
    static let singleRuleCases: [(String, OrderRequest, ValidationFailure.Code, String)] = [
        ("empty order", request(lines: []), .emptyOrder, "items"),
        ("zero quantity", request(lines: [line(quantity: 0)]), .invalidQuantity, "items[0].quantity"),
        (
            "negative quantity", request(lines: [line(), line("B", quantity: -3)]), .invalidQuantity,
            "items[1].quantity"
        ),
        ("quantity above maximum", request(lines: [line(quantity: 1_001)]), .quantityTooLarge, "items[0].quantity"),
        ("negative price", request(lines: [line(price: -1)]), .negativePrice, "items[0].unit_price"),
        (
            "unsupported currency", request(lines: [line(currency: "USD")], currency: "USD"), .unsupportedCurrency,
            "currency"
        ),
        (
            "malformed currency", request(lines: [line(currency: "krw")], currency: "krw"), .unsupportedCurrency,
            "currency"
        ),
        (
            "mixed currencies", request(lines: [line(), line("B", currency: "USD")]), .currencyMismatch,
            "items[1].unit_price"
        ),
        ("undeliverable country", request(country: "US"), .undeliverableAddress, "shipping_address.country"),
        ("empty country", request(country: ""), .missingField, "shipping_address.country"),
        ("unknown coupon", request(couponCode: "NOPE"), .unknownCoupon, "coupon_code"),
        ("bad email", request(email: "kim.example.com"), .invalidEmail, "customer.email"),
        ("email without domain dot", request(email: "kim@localhost"), .invalidEmail, "customer.email"),
        ("empty sku", request(lines: [line("")]), .missingField, "items[0].sku"),
        ("long name", request(lines: [line(String(repeating: "x", count: 65))]), .fieldTooLong, "items[0].sku"),
        (
            "overflowing total", request(lines: [line("A", quantity: 2, price: Int.max / 2 + 1)]), .amountOverflow,
            "items"
        ),
    ]

    @Test(arguments: singleRuleCases)
    func eachRuleReportsItsReasonAndField(example: (String, OrderRequest, ValidationFailure.Code, String)) {
        let (name, request, code, field) = example
        let report = validator.validate(request)
        #expect(report.failures.map(\.code) == [code], "\(name): \(report.summary)")
        #expect(report.failures.first?.field == field, "\(name)")
    }

    @Test func couponCodeIsCaseInsensitive() {
        #expect(validator.validate(Self.request(couponCode: "summer20")).isValid)
    }

    @Test func deliverableCountriesAreConfigured() {
        let configured = OrderValidator(
            configuration: OrderValidationConfiguration(deliverableCountries: ["KR", "US"]))
        #expect(configured.validate(Self.request(country: "US")).isValid)
        #expect(!configured.validate(Self.request(country: "JP")).isValid)
    }

    @Test func everyReasonIsReportedInChainOrder() {
        let request = Self.request(
            lines: [Self.line(quantity: 0, price: -5)], email: "nope", country: "FR", couponCode: "NOPE")
        let report = validator.validate(request)
        #expect(
            report.failures.map(\.code) == [
                .invalidQuantity, .negativePrice, .invalidEmail, .undeliverableAddress, .unknownCoupon,
            ])
        #expect(report.stoppedBy == nil)
    }

    @Test func tooManyLinesStopsTheChain() {
        let lines = (0...100).map { Self.line("P\($0)", quantity: 0) }
        let report = validator.validate(Self.request(lines: lines, couponCode: "NOPE"))
        #expect(report.failures.map(\.code) == [.tooManyLines])
        #expect(report.stoppedBy == "size")
    }

    @Test func customChecksJoinTheChain() {
        let noGifts = OrderValidationCheck(name: "no-gifts") { request, _ in
            OrderValidationCheck.Outcome(
                failures: request.lines.contains { $0.unitPrice == 0 }
                    ? [ValidationFailure(ValidationFailure.Code("free_item"), field: "items", "no free items")] : [])
        }
        let custom = OrderValidator(checks: OrderValidationCheck.standard + [noGifts])
        #expect(custom.validate(Self.request(lines: [Self.line(price: 0)])).failures.map(\.code.name) == ["free_item"])
    }

    @Test func makeOrderRefusesAnInvalidRequest() {
        let error = #expect(throws: DomainError.self) { try validator.makeOrder(from: Self.request(lines: [])) }
        #expect(error?.code == .invalidOrder)
        #expect(error?.field == "items")
    }

    @Test("a SKU repeated over several lines is held to the per-line limit once its lines merge")
    func repeatedSKUIsLimitedAfterMerging() {
        let split = Self.request(lines: [
            Self.line("A", quantity: 1_000), Self.line("B"), Self.line("A", quantity: 1_000),
        ])
        let report = validator.validate(split)
        #expect(report.failures.map(\.code) == [.quantityTooLarge], "\(report.summary)")
        #expect(report.failures.first?.field == "items[2].quantity", "the line that takes the SKU over the limit")
        #expect(report.failures.first?.message.contains("2000") == true, "\(report.summary)")
        let error = #expect(throws: DomainError.self) { try validator.makeOrder(from: split) }
        #expect(error?.code == .invalidOrder)
        // As one line, the same units are refused the same way.
        let single = validator.validate(Self.request(lines: [Self.line("A", quantity: 2_000)]))
        #expect(single.failures.map(\.code) == [.quantityTooLarge])
    }

    @Test("repeated lines that stay within the limit together are accepted and merged")
    func repeatedSKUWithinTheLimitMerges() throws {
        let request = Self.request(lines: [Self.line("A", quantity: 600), Self.line("A", quantity: 400)])
        #expect(validator.validate(request).isValid)
        #expect(try validator.makeOrder(from: request).items.map(\.quantity) == [1_000])
    }
}
