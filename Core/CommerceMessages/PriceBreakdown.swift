import CommerceDomain

/// The `amounts` object of the order events: how the final price was made, in minor units
/// of the message's `currency`, none negative.
///
/// `total = subtotal − coupon_discount − membership_discount + shipping_fee` is what the
/// payment worker charges and what a confirmed order's payment must equal. When the order named
/// a known coupon that does not apply to it, ``couponNotApplied`` says which and why (and
/// `coupon_discount` is 0); it is absent otherwise.
public struct PriceBreakdown: Codable, Sendable, Hashable {
    /// Σ line totals, before discounts.
    public var subtotal: Int
    /// What the coupon took off.
    public var couponDiscount: Int
    /// What the membership level took off (after the coupon).
    public var membershipDiscount: Int
    /// The shipping fee (0 when free).
    public var shippingFee: Int
    /// The final price: what is charged.
    public var total: Int
    /// The coupon the order named that was not applied, and why; `nil` when there was none.
    public var couponNotApplied: CouponNotApplied?

    /// Creates a breakdown from its parts.
    public init(
        subtotal: Int, couponDiscount: Int, membershipDiscount: Int, shippingFee: Int, total: Int,
        couponNotApplied: CouponNotApplied? = nil
    ) {
        self.subtotal = subtotal
        self.couponDiscount = couponDiscount
        self.membershipDiscount = membershipDiscount
        self.shippingFee = shippingFee
        self.total = total
        self.couponNotApplied = couponNotApplied
    }

    /// The contract form of a ``PriceQuote``.
    public init(_ quote: PriceQuote) {
        self.init(
            subtotal: quote.subtotal.amount, couponDiscount: quote.couponDiscount.amount,
            membershipDiscount: quote.membershipDiscount.amount, shippingFee: quote.shippingFee.amount,
            total: quote.finalTotal.amount, couponNotApplied: quote.couponNotApplied.map(CouponNotApplied.init))
    }

    enum CodingKeys: String, CodingKey {
        case subtotal, total
        case couponDiscount = "coupon_discount"
        case membershipDiscount = "membership_discount"
        case shippingFee = "shipping_fee"
        case couponNotApplied = "coupon_not_applied"
    }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        subtotal = try container.contractAmount(.subtotal)
        couponDiscount = try container.contractAmount(.couponDiscount)
        membershipDiscount = try container.contractAmount(.membershipDiscount)
        shippingFee = try container.contractAmount(.shippingFee)
        total = try container.contractAmount(.total)
        couponNotApplied = try container.decodeIfPresent(CouponNotApplied.self, forKey: .couponNotApplied)
    }
}
