/// The pricing domain service: coupon, then membership discount, then shipping.
///
/// ```
/// subtotal            = Σ line totals
/// couponDiscount      = coupon.strategy.discount(on: subtotal)          (≤ subtotal)
/// membershipDiscount  = (subtotal − couponDiscount) × level% / 100      (integer division)
/// shippingFee         = 0 if subtotal ≥ freeShippingThreshold else shippingFee
/// finalTotal          = subtotal − couponDiscount − membershipDiscount + shippingFee
/// ```
/// Pure and deterministic; safe to share between tasks.
public struct Pricing: Hashable, Sendable {
    /// Shipping and membership figures.
    public let configuration: PricingConfiguration
    /// The coupons that can be applied.
    public let coupons: CouponCatalog

    /// Creates the service.
    public init(configuration: PricingConfiguration = PricingConfiguration(), coupons: CouponCatalog = .empty) {
        self.configuration = configuration
        self.coupons = coupons
    }

    /// Prices an order.
    /// - Parameters:
    ///   - couponCode: a code from the catalog (case-insensitive), or `nil`.
    ///   - membership: the customer's level (`gold`), or `nil`; unknown levels get no discount.
    /// - Throws: ``DomainError/Code/unknownCoupon``, ``DomainError/Code/currencyMismatch`` (the
    ///   order is not in the configured currency), ``DomainError/Code/overflow``.
    public func quote(for order: Order, couponCode: String? = nil, membership: String? = nil) throws(DomainError)
        -> PriceQuote
    {
        try quote(subtotal: order.total, couponCode: couponCode, membership: membership)
    }

    /// Prices a subtotal (the sum of the line totals).
    /// - Throws: as ``quote(for:couponCode:membership:)``.
    public func quote(subtotal: Money, couponCode: String? = nil, membership: String? = nil) throws(DomainError)
        -> PriceQuote
    {
        guard subtotal.currency == configuration.currency else {
            throw DomainError(
                .currencyMismatch,
                "pricing is configured for \(configuration.currency), the order is in \(subtotal.currency)")
        }
        var couponDiscount = Money.zero(subtotal.currency)
        var appliedCoupon: String?
        if let couponCode {
            guard let coupon = coupons.coupon(for: couponCode) else {
                throw DomainError(.unknownCoupon, "unknown coupon '\(couponCode)'", field: "coupon_code")
            }
            // The strategies already cap at the total; the extra cap keeps the invariant even
            // for a strategy added later.
            couponDiscount = try coupon.strategy.discount(on: subtotal).minimum(subtotal)
            appliedCoupon = coupon.code
        }
        let afterCoupon = try subtotal.subtracting(couponDiscount)
        let percent = configuration.membershipPercent(for: membership)
        let membershipDiscount = try afterCoupon.percentage(percent)
        let discounted = try afterCoupon.subtracting(membershipDiscount)
        let shippingFee =
            try subtotal.isLess(than: configuration.freeShippingThreshold)
            ? configuration.shippingFee : Money.zero(subtotal.currency)
        return PriceQuote(
            subtotal: subtotal,
            couponDiscount: couponDiscount,
            membershipDiscount: membershipDiscount,
            shippingFee: shippingFee,
            finalTotal: try discounted.adding(shippingFee),
            couponCode: appliedCoupon,
            membership: percent > 0 ? membership?.lowercased() : nil)
    }
}
