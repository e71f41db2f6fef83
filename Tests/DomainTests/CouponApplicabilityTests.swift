import CommerceDomain
import Foundation
import Testing

/// A coupon's applicability (its validity window and minimum subtotal) and what pricing does
/// with a known coupon that does not apply: no discount, and the reason in the quote. The clock
/// is fixed: every date is written out.
@Suite struct CouponApplicabilityTests {
    static func date(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)!
    }

    static let summer = Coupon(
        code: "SUMMER20", strategy: .percentage(20), validFrom: date("2026-06-01T00:00:00+09:00"),
        validUntil: date("2026-08-31T23:59:59+09:00"))
    static let big = Coupon(
        code: "BIG10000", strategy: .fixed(Fixtures.krw(10_000)), minimumSubtotal: Fixtures.krw(100_000))
    static let catalog = try! CouponCatalog(coupons: [summer, big, Coupon(code: "ALWAYS5", strategy: .percentage(5))])
    static let pricing = Pricing(coupons: catalog)

    @Test(
        "the window is inclusive at both ends",
        arguments: [
            ("2026-05-31T23:59:59+09:00", Coupon.NotAppliedReason?.some(.notYetValid)),
            ("2026-06-01T00:00:00+09:00", nil),
            ("2026-07-15T12:00:00Z", nil),
            ("2026-08-31T23:59:59+09:00", nil),
            ("2026-09-01T00:00:00+09:00", .expired),
        ])
    func window(example: (String, Coupon.NotAppliedReason?)) throws {
        let (when, reason) = example
        #expect(
            try Self.summer.notAppliedReason(subtotal: Fixtures.krw(90_000), at: Self.date(when)) == reason, "\(when)")
        #expect(try Self.summer.isApplicable(to: Fixtures.order(), at: Self.date(when)) == (reason == nil))
    }

    @Test("the minimum subtotal is inclusive", arguments: [(99_999, false), (100_000, true), (250_000, true)])
    func minimum(example: (Int, Bool)) throws {
        let (subtotal, applies) = example
        let reason = try Self.big.notAppliedReason(
            subtotal: Fixtures.krw(subtotal), at: Self.date("2026-07-01T00:00:00Z"))
        #expect(reason == (applies ? nil : .belowMinimumSubtotal))
    }

    @Test("a coupon without limits always applies")
    func unlimited() throws {
        let coupon = Coupon(code: "ALWAYS5", strategy: .percentage(5))
        #expect(try coupon.notAppliedReason(subtotal: Fixtures.krw(0), at: .distantPast) == nil)
        #expect(try coupon.notAppliedReason(subtotal: Fixtures.krw(0), at: .distantFuture) == nil)
    }

    @Test("an expired coupon is priced as no coupon, and the quote says which and why")
    func expiredIsNotApplied() throws {
        let quote = try Self.pricing.quote(
            subtotal: Fixtures.krw(90_000), couponCode: "summer20", membership: "gold",
            at: Self.date("2026-09-01T00:00:00+09:00"))
        let without = try Self.pricing.quote(subtotal: Fixtures.krw(90_000), membership: "gold")
        #expect(quote.couponDiscount == Fixtures.krw(0))
        #expect(quote.finalTotal == without.finalTotal)
        #expect(quote.couponCode == nil)
        #expect(quote.couponNotApplied == PriceQuote.CouponNotApplied(code: "SUMMER20", reason: .expired))
    }

    @Test("inside its window the same coupon applies and nothing is reported")
    func insideTheWindowApplies() throws {
        let quote = try Self.pricing.quote(
            subtotal: Fixtures.krw(90_000), couponCode: "SUMMER20", at: Self.date("2026-07-01T00:00:00+09:00"))
        #expect(quote.couponDiscount == Fixtures.krw(18_000))
        #expect(quote.couponCode == "SUMMER20")
        #expect(quote.couponNotApplied == nil)
    }

    @Test("below its minimum subtotal a coupon is not applied; shipping still looks at the subtotal")
    func belowMinimumIsNotApplied() throws {
        let quote = try Self.pricing.quote(
            subtotal: Fixtures.krw(40_000), couponCode: "BIG10000", at: Self.date("2026-07-01T00:00:00Z"))
        #expect(quote.couponNotApplied == PriceQuote.CouponNotApplied(code: "BIG10000", reason: .belowMinimumSubtotal))
        #expect(quote.finalTotal == Fixtures.krw(43_000))
    }

    @Test("an unknown code is still an error, whatever the time")
    func unknownStaysAnError() {
        let error = #expect(throws: DomainError.self) {
            try Self.pricing.quote(
                subtotal: Fixtures.krw(90_000), couponCode: "NOPE", at: Self.date("2026-07-01T00:00:00Z"))
        }
        #expect(error?.code == .unknownCoupon)
    }

    @Test("the catalog reads and writes the limits")
    func catalogRoundTrip() throws {
        let document = """
            { "currency": "KRW", "coupons": [
              { "code": "SUMMER20", "strategy": "percentage", "percent": 20,
                "valid_from": "2026-06-01T00:00:00+09:00", "valid_until": "2026-08-31T23:59:59+09:00" },
              { "code": "BIG10000", "strategy": "fixed", "amount": 10000, "minimum_subtotal": 100000 },
              { "code": "ALWAYS5", "strategy": "percentage", "percent": 5 } ] }
            """
        let catalog = try CouponCatalog.decode(from: Data(document.utf8))
        #expect(catalog == Self.catalog)
        #expect(try CouponCatalog.decode(from: JSONEncoder().encode(catalog)) == catalog)
    }

    @Test(
        "bad limits are configuration errors",
        arguments: [
            #"{"coupons":[{"code":"A","strategy":"percentage","percent":1,"valid_from":"June 1st"}]}"#,
            #"{"coupons":[{"code":"A","strategy":"percentage","percent":1,"valid_until":"2026-06-01"}]}"#,
            #"{"coupons":[{"code":"A","strategy":"percentage","percent":1,"valid_from":"2026-09-01T00:00:00Z","valid_until":"2026-06-01T00:00:00Z"}]}"#,
            #"{"coupons":[{"code":"A","strategy":"percentage","percent":1,"minimum_subtotal":-1}]}"#,
        ])
    func badLimits(document: String) {
        let error = #expect(throws: DomainError.self) { try CouponCatalog.decode(from: Data(document.utf8)) }
        #expect(error?.code == .invalidConfiguration)
    }
}
