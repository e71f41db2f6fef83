import CommerceDomain

/// The `amounts.coupon_not_applied` object of the order events: the order named a known coupon
/// that does not apply to it, so it was priced without it.
///
/// `reason` is `not_yet_valid` or `expired` (priced outside the coupon's validity window) or
/// `below_minimum_subtotal` (the subtotal is below the coupon's minimum). An unknown code is not
/// this: it rejects the order (`order.rejected`, violation `unknown_coupon`).
public struct CouponNotApplied: Codable, Sendable, Hashable {
    /// The coupon's code, normalized to upper case.
    public var code: String
    /// Why it was not applied.
    public var reason: Coupon.NotAppliedReason

    /// Creates the object from its parts.
    public init(code: String, reason: Coupon.NotAppliedReason) {
        self.code = code
        self.reason = reason
    }

    /// The contract form of the domain's record.
    public init(_ notApplied: PriceQuote.CouponNotApplied) {
        self.init(code: notApplied.code, reason: notApplied.reason)
    }

    enum CodingKeys: String, CodingKey {
        case code, reason
    }

    /// Decodes strictly (see ``ContractMessage``): a non-empty code and a known reason.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        code = try container.contractString(.code, nonEmpty: true)
        reason = try container.contractEnum(Coupon.NotAppliedReason.self, .reason)
    }
}
