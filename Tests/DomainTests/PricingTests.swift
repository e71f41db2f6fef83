import CommerceDomain
import Foundation
import PropertyBased
import Testing

@Suite struct PricingTests {
    let pricing = Pricing(coupons: Fixtures.catalog)

    @Test(arguments: [(90_000, 20, 18_000), (999, 10, 99), (0, 50, 0), (12_345, 100, 12_345)])
    func percentageCoupon(example: (total: Int, percent: Int, discount: Int)) throws {
        let (total, percent, discount) = example
        #expect(try DiscountStrategy.percentage(percent).discount(on: Fixtures.krw(total)) == Fixtures.krw(discount))
    }

    @Test(arguments: [(90_000, 5_000), (5_000, 5_000), (3_000, 3_000), (0, 0)])
    func fixedCouponIsCappedAtTheTotal(total: Int, discount: Int) throws {
        #expect(
            try DiscountStrategy.fixed(Fixtures.krw(5_000)).discount(on: Fixtures.krw(total)) == Fixtures.krw(discount))
    }

    @Test(arguments: [
        (49_999, 0), (50_000, 2_500), (99_999, 4_999), (100_000, 10_000), (199_999, 19_999), (200_000, 30_000),
        (1_000_000, 150_000),
    ])
    func tieredCouponUsesTheHighestThresholdReached(total: Int, discount: Int) throws {
        let tiered = Fixtures.catalog.coupon(for: "TIERED")!.strategy
        #expect(try tiered.discount(on: Fixtures.krw(total)) == Fixtures.krw(discount))
    }

    @Test func tiersNeedNotBeSorted() throws {
        let tiered = DiscountStrategy.tiered([
            DiscountTier(threshold: Fixtures.krw(200_000), percent: 15),
            DiscountTier(threshold: Fixtures.krw(50_000), percent: 5),
        ])
        #expect(try tiered.discount(on: Fixtures.krw(300_000)) == Fixtures.krw(45_000))
    }

    @Test func membershipDiscountAppliesAfterTheCoupon() throws {
        // 90,000 − 20 % = 72,000; gold 10 % of 72,000 = 7,200 (not 9,000 of the subtotal).
        let quote = try pricing.quote(subtotal: Fixtures.krw(90_000), couponCode: "SUMMER20", membership: "gold")
        #expect(quote.couponDiscount == Fixtures.krw(18_000))
        #expect(quote.membershipDiscount == Fixtures.krw(7_200))
        #expect(quote.shippingFee == Fixtures.krw(0))
        #expect(quote.finalTotal == Fixtures.krw(64_800))
        #expect(quote.couponCode == "SUMMER20" && quote.membership == "gold")
    }

    @Test(arguments: [(49_999, 3_000), (50_000, 0), (10, 3_000), (0, 3_000)])
    func shippingIsFreeFromTheThresholdBeforeDiscounts(subtotal: Int, fee: Int) throws {
        #expect(try pricing.quote(subtotal: Fixtures.krw(subtotal)).shippingFee == Fixtures.krw(fee))
    }

    @Test func shippingThresholdLooksAtTheTotalBeforeDiscounts() throws {
        // 60,000 − 20 % = 48,000 is below 50,000, yet shipping stays free: the rule reads the
        // total before discounts.
        let quote = try pricing.quote(subtotal: Fixtures.krw(60_000), couponCode: "summer20")
        #expect(quote.shippingFee.isZero)
        #expect(quote.finalTotal == Fixtures.krw(48_000))
    }

    @Test func shippingFiguresAreConfigurable() throws {
        let custom = Pricing(
            configuration: PricingConfiguration(
                freeShippingThreshold: Fixtures.krw(100_000), shippingFee: Fixtures.krw(2_500)))
        #expect(try custom.quote(subtotal: Fixtures.krw(60_000)).shippingFee == Fixtures.krw(2_500))
        #expect(try custom.quote(subtotal: Fixtures.krw(100_000)).shippingFee.isZero)
    }

    @Test func finalPriceIsDiscountedTotalPlusShipping() throws {
        let quote = try pricing.quote(subtotal: Fixtures.krw(20_000), couponCode: "FIXED5000", membership: "silver")
        // 20,000 − 5,000 = 15,000; silver 5 % = 750; + 3,000 shipping.
        #expect(try quote.discountedTotal() == Fixtures.krw(14_250))
        #expect(quote.finalTotal == Fixtures.krw(17_250))
    }

    @Test func unknownMembershipGetsNoDiscountAndUnknownCouponIsAnError() throws {
        let quote = try pricing.quote(subtotal: Fixtures.krw(10_000), membership: "platinum")
        #expect(quote.membershipDiscount.isZero && quote.membership == nil)
        let error = #expect(throws: DomainError.self) {
            try pricing.quote(subtotal: Fixtures.krw(1), couponCode: "NOPE")
        }
        #expect(error?.code == .unknownCoupon)
    }

    @Test func pricingInAnotherCurrencyIsAnError() throws {
        let usd = try Money(amount: 10, currency: Currency("USD"))
        let error = #expect(throws: DomainError.self) { try pricing.quote(subtotal: usd) }
        #expect(error?.code == .currencyMismatch)
    }

    @Test func quoteForAnOrderUsesItsTotal() throws {
        let quote = try pricing.quote(for: Fixtures.order(), couponCode: "SUMMER20", membership: "gold")
        #expect(quote.subtotal == Fixtures.krw(90_000) && quote.finalTotal == Fixtures.krw(64_800))
    }

    @Test("the worked example of docs/saga.md: 2 × 10,000 + 1 × 20,000 = 40,000, plus 3,000 shipping = 43,000")
    func workedExample() throws {
        let order = Fixtures.order([
            Fixtures.item("KB-001", quantity: 2, price: 10_000), Fixtures.item("MS-001", quantity: 1, price: 20_000),
        ])
        #expect(order.total == Fixtures.krw(40_000))
        // The repository's pricing: free shipping from 50,000, else 3,000.
        let configuration = try PricingConfiguration.decode(
            from: Data(contentsOf: Fixtures.packageRoot.appending(path: "config/pricing.json")))
        #expect(configuration.freeShippingThreshold == Fixtures.krw(50_000))
        #expect(configuration.shippingFee == Fixtures.krw(3_000))
        let quote = try Pricing(configuration: configuration).quote(for: order)
        #expect(quote.subtotal == Fixtures.krw(40_000))
        #expect(quote.shippingFee == Fixtures.krw(3_000))
        #expect(quote.finalTotal == Fixtures.krw(43_000))
    }

    // MARK: Catalog and configuration as data

    @Test func defaultCatalogFileLoads() throws {
        let data = try Data(contentsOf: Fixtures.packageRoot.appending(path: "config/coupons.json"))
        let catalog = try CouponCatalog.decode(from: data)
        #expect(catalog.contains("summer20"))
        #expect(catalog.coupon(for: "TIERED")?.strategy == Fixtures.catalog.coupon(for: "TIERED")?.strategy)
        #expect(catalog.coupon(for: "FIXED5000")?.strategy == .fixed(Fixtures.krw(5_000)))
    }

    @Test func defaultPricingFileMatchesTheDefaults() throws {
        let data = try Data(contentsOf: Fixtures.packageRoot.appending(path: "config/pricing.json"))
        #expect(try PricingConfiguration.decode(from: data) == PricingConfiguration())
        #expect(PricingConfiguration().freeShippingThreshold == Fixtures.krw(50_000))
        #expect(PricingConfiguration().shippingFee == Fixtures.krw(3_000))
    }

    @Test func catalogRoundTripsThroughJSON() throws {
        let data = try JSONEncoder().encode(Fixtures.catalog)
        #expect(try CouponCatalog.decode(from: data) == Fixtures.catalog)
    }

    @Test(arguments: [
        #"{"coupons":[{"code":"A","strategy":"percentage","percent":120}]}"#,
        #"{"coupons":[{"code":"A","strategy":"fixed","amount":-1}]}"#,
        #"{"coupons":[{"code":"A","strategy":"bogus"}]}"#,
        #"{"coupons":[{"code":"A","strategy":"tiered","tiers":[]}]}"#,
        #"{"coupons":[{"code":"a","strategy":"percentage","percent":1},{"code":"A","strategy":"percentage","percent":2}]}"#,
        #"{"coupons":[{"code":" ","strategy":"percentage","percent":1}]}"#,
        #"not json"#,
    ])
    func invalidCatalogsAreConfigurationErrors(document: String) {
        let error = #expect(throws: DomainError.self) { try CouponCatalog.decode(from: Data(document.utf8)) }
        #expect(error?.code == .invalidConfiguration)
    }

    @Test func invalidPricingConfigurationIsAnError() {
        let error = #expect(throws: DomainError.self) {
            try PricingConfiguration.decode(from: Data(#"{"membership_discounts":{"gold":150}}"#.utf8))
        }
        #expect(error?.code == .invalidConfiguration)
    }

    // MARK: Properties

    static let couponCodes: [String?] = [nil, "SUMMER20", "FIXED5000", "TIERED"]
    static let memberships: [String?] = [nil, "gold", "silver", "bronze"]

    @Test func pricingInvariants() async {
        await propertyCheck(
            count: 500, input: Gen.int(in: 0...100_000_000_000), Gen.element(of: Self.couponCodes),
            Gen.element(of: Self.memberships)
        ) { subtotal, couponCode, membership in
            let quote = try pricing.quote(
                subtotal: Fixtures.krw(subtotal), couponCode: couponCode!, membership: membership!)
            let discount = try quote.totalDiscount()
            // The discount never exceeds the total.
            #expect(discount.amount <= subtotal)
            // The final price is at least the shipping fee, and exactly discounted total + shipping.
            #expect(quote.finalTotal.amount >= quote.shippingFee.amount)
            #expect(quote.finalTotal.amount == subtotal - discount.amount + quote.shippingFee.amount)
            // Shipping is free exactly from the threshold.
            #expect(quote.shippingFee.isZero == (subtotal >= 50_000))
        }
    }

    @Test func everyStrategyDiscountStaysWithinTheTotal() async {
        let strategies = Fixtures.catalog.coupons.map(\.strategy) + [.fixed(Fixtures.krw(1_000_000)), .percentage(100)]
        await propertyCheck(input: Gen.int(in: 0...Int.max / 100), Gen.element(of: strategies)) { total, strategy in
            let discount = try strategy!.discount(on: Fixtures.krw(total))
            #expect(discount.amount >= 0 && discount.amount <= total)
        }
    }
}
