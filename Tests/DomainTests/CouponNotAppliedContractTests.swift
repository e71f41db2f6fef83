import CommerceDomain
import CommerceMessages
import Foundation
import Testing

/// `amounts.coupon_not_applied` in the contract: written only when there is one, read strictly.
@Suite struct CouponNotAppliedContractTests {
    static func amounts(_ json: String) throws -> PriceBreakdown {
        try JSONDecoder().decode(PriceBreakdown.self, from: Data(json.utf8))
    }

    static let base = #""subtotal":90000,"coupon_discount":0,"membership_discount":9000,"shipping_fee":0,"total":81000"#

    @Test("it round-trips, and is absent when there is none")
    func roundTrip() throws {
        let encoded = try JSONEncoder().encode(Fixtures.amountsWithoutCoupon)
        let object = try #require(try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        let notApplied = try #require(object["coupon_not_applied"] as? [String: String])
        #expect(notApplied == ["code": "BIG10000", "reason": "below_minimum_subtotal"])
        #expect(try JSONDecoder().decode(PriceBreakdown.self, from: encoded) == Fixtures.amountsWithoutCoupon)
        let plain = try JSONSerialization.jsonObject(with: JSONEncoder().encode(Fixtures.amounts)) as? [String: Any]
        #expect(plain?["coupon_not_applied"] == nil)
        #expect(try Self.amounts("{\(Self.base)}").couponNotApplied == nil)
    }

    @Test("the contract form of a quote carries the coupon not applied")
    func fromQuote() {
        let quote = PriceQuote(
            subtotal: Fixtures.krw(90_000), couponDiscount: Fixtures.krw(0), membershipDiscount: Fixtures.krw(9_000),
            shippingFee: Fixtures.krw(0), finalTotal: Fixtures.krw(81_000), membership: "gold",
            couponNotApplied: PriceQuote.CouponNotApplied(code: "BIG10000", reason: .belowMinimumSubtotal))
        #expect(PriceBreakdown(quote) == Fixtures.amountsWithoutCoupon)
    }

    @Test(
        "an unknown reason or an empty code is a contract error",
        arguments: [
            #"{"code":"BIG10000","reason":"too_cheap"}"#, #"{"code":"","reason":"expired"}"#, #"{"code":"BIG10000"}"#,
        ])
    func strict(object: String) {
        #expect(throws: (any Error).self) { try Self.amounts("{\(Self.base),\"coupon_not_applied\":\(object)}") }
    }
}
