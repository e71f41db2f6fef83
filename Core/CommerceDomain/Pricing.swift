import Foundation

/// The pricing domain service: coupon, then membership discount, then shipping.
///
/// ```
/// subtotal            = Σ line totals
/// couponDiscount      = coupon.strategy.discount(on: subtotal)          (≤ subtotal)
///                       0 when the coupon does not apply (window, minimum subtotal)
/// membershipDiscount  = (subtotal − couponDiscount) × level% / 100      (integer division)
/// shippingFee         = 0 if subtotal ≥ freeShippingThreshold else shippingFee
/// finalTotal          = subtotal − couponDiscount − membershipDiscount + shippingFee
/// ```
/// Pure and deterministic for a given time (the `at` argument, which decides whether a coupon's
/// validity window is open); safe to share between tasks.
///
/// Worked example, with the default configuration (docs/saga.md): 2 × 10,000 +
/// 1 × 20,000 = 40,000, below the 50,000 free-shipping threshold, so 3,000 shipping: 43,000.
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
    ///   - date: when the order is priced, for the coupon's validity window; now by default.
    /// - Returns: the quote; a known coupon that does not apply to this order gives no discount
    ///   and is named in ``PriceQuote/couponNotApplied``.
    /// - Throws: ``DomainError/Code/unknownCoupon``, ``DomainError/Code/currencyMismatch`` (the
    ///   order is not in the configured currency), ``DomainError/Code/overflow``.
    public func quote(
        for order: Order, couponCode: String? = nil, membership: String? = nil, at date: Date = Date()
    ) throws(DomainError) -> PriceQuote {
        try quote(subtotal: order.total, couponCode: couponCode, membership: membership, at: date)
    }

    /// Prices a subtotal (the sum of the line totals).
    /// - Throws: as ``quote(for:couponCode:membership:at:)``.
    public func quote(
        subtotal: Money, couponCode: String? = nil, membership: String? = nil, at date: Date = Date()
    ) throws(DomainError) -> PriceQuote {
        guard subtotal.currency == configuration.currency else {
            throw DomainError(
                .currencyMismatch,
                "pricing is configured for \(configuration.currency), the order is in \(subtotal.currency)")
        }
        var couponDiscount = Money.zero(subtotal.currency)
        var appliedCoupon: String?
        var couponNotApplied: PriceQuote.CouponNotApplied?
        if let couponCode {
            guard let coupon = coupons.coupon(for: couponCode) else {
                throw DomainError(.unknownCoupon, "unknown coupon '\(couponCode)'", field: "coupon_code")
            }
            if let reason = try coupon.notAppliedReason(subtotal: subtotal, at: date) {
                couponNotApplied = PriceQuote.CouponNotApplied(code: coupon.code, reason: reason)
            } else {
                // The strategies already cap at the total; the extra cap keeps the invariant even
                // for a strategy added later.
                couponDiscount = try coupon.strategy.discount(on: subtotal).minimum(subtotal)
                appliedCoupon = coupon.code
            }
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
            membership: percent > 0 ? membership?.lowercased() : nil,
            couponNotApplied: couponNotApplied)
    }
}
