/// The priced breakdown of an order, as computed by ``Pricing``.
///
/// When the order named a known coupon that does not apply to it (outside its window, below its
/// minimum subtotal), ``couponNotApplied`` says which and why, and ``couponDiscount`` is zero.
///
/// Invariants (tested as properties): `couponDiscount + membershipDiscount <= subtotal`,
/// `finalTotal == subtotal − discounts + shippingFee`, so `finalTotal >= shippingFee`.
public struct PriceQuote: Hashable, Sendable {
    /// A coupon the order named that was not applied, and why.
    public struct CouponNotApplied: Hashable, Sendable {
        /// The coupon's normalized code.
        public var code: String
        /// Why it does not apply to this order.
        public var reason: Coupon.NotAppliedReason

        /// Creates the record of a coupon not applied.
        public init(code: String, reason: Coupon.NotAppliedReason) {
            self.code = code
            self.reason = reason
        }
    }

    /// The sum of the line totals, before discounts.
    public var subtotal: Money
    /// What the coupon took off (zero without a coupon).
    public var couponDiscount: Money
    /// What the membership level took off, computed on the total after the coupon.
    public var membershipDiscount: Money
    /// The shipping fee (zero at or above the free-shipping threshold).
    public var shippingFee: Money
    /// `subtotal − couponDiscount − membershipDiscount + shippingFee`: what the customer pays.
    public var finalTotal: Money
    /// The applied coupon's normalized code, if any.
    public var couponCode: String?
    /// The membership level whose discount was applied, if any (lower case).
    public var membership: String?
    /// The coupon the order named but that does not apply to it, if any (then ``couponCode`` is
    /// `nil` and ``couponDiscount`` zero).
    public var couponNotApplied: CouponNotApplied?

    /// Creates a quote from its parts (for example when restoring one from storage); it does
    /// not recompute anything.
    public init(
        subtotal: Money, couponDiscount: Money, membershipDiscount: Money, shippingFee: Money, finalTotal: Money,
        couponCode: String? = nil, membership: String? = nil, couponNotApplied: CouponNotApplied? = nil
    ) {
        self.subtotal = subtotal
        self.couponDiscount = couponDiscount
        self.membershipDiscount = membershipDiscount
        self.shippingFee = shippingFee
        self.finalTotal = finalTotal
        self.couponCode = couponCode
        self.membership = membership
        self.couponNotApplied = couponNotApplied
    }

    /// The total discount: coupon plus membership.
    /// - Throws: ``DomainError/Code/overflow`` (cannot happen for a quote made by ``Pricing``).
    public func totalDiscount() throws(DomainError) -> Money {
        try couponDiscount.adding(membershipDiscount)
    }

    /// `subtotal` minus both discounts, before shipping.
    /// - Throws: ``DomainError/Code/negativeAmount`` (cannot happen for a quote made by ``Pricing``).
    public func discountedTotal() throws(DomainError) -> Money {
        try subtotal.subtracting(totalDiscount())
    }
}
