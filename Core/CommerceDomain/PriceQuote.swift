/// The priced breakdown of an order, as computed by ``Pricing``.
///
/// Invariants (tested as properties): `couponDiscount + membershipDiscount <= subtotal`,
/// `finalTotal == subtotal − discounts + shippingFee`, so `finalTotal >= shippingFee`.
public struct PriceQuote: Hashable, Sendable {
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

    /// Creates a quote from its parts (for example when restoring one from storage); it does
    /// not recompute anything.
    public init(
        subtotal: Money, couponDiscount: Money, membershipDiscount: Money, shippingFee: Money, finalTotal: Money,
        couponCode: String? = nil, membership: String? = nil
    ) {
        self.subtotal = subtotal
        self.couponDiscount = couponDiscount
        self.membershipDiscount = membershipDiscount
        self.shippingFee = shippingFee
        self.finalTotal = finalTotal
        self.couponCode = couponCode
        self.membership = membership
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
