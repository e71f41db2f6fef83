import Foundation

/// A coupon: a code customers type, the ``DiscountStrategy`` it applies, and the orders it
/// applies to.
///
/// A coupon may be limited to a validity window (``validFrom`` … ``validUntil``, both
/// inclusive) and to orders whose subtotal (the sum of the line totals, before any discount)
/// reaches ``minimumSubtotal``. A known coupon that does not apply to an order is not an error:
/// ``Pricing`` prices the order without it and says why in ``PriceQuote/couponNotApplied``.
public struct Coupon: Hashable, Sendable {
    /// Why a known coupon does not apply to an order; the raw values are part of the message
    /// contract (`amounts.coupon_not_applied.reason`).
    public enum NotAppliedReason: String, Hashable, Sendable, CaseIterable, Codable {
        /// The order was priced before ``Coupon/validFrom``.
        case notYetValid = "not_yet_valid"
        /// The order was priced after ``Coupon/validUntil``.
        case expired = "expired"
        /// The order's subtotal is below ``Coupon/minimumSubtotal``.
        case belowMinimumSubtotal = "below_minimum_subtotal"
    }

    /// The code, normalized to upper case (`SUMMER20`); matching is case-insensitive.
    public let code: String
    /// How the discount is computed.
    public let strategy: DiscountStrategy
    /// A note for people reading the catalog.
    public let summary: String?
    /// The first instant at which the coupon applies; `nil`: no start.
    public let validFrom: Date?
    /// The last instant at which the coupon applies; `nil`: it never expires.
    public let validUntil: Date?
    /// The smallest subtotal (before discounts) the coupon applies to; `nil`: any subtotal.
    public let minimumSubtotal: Money?

    /// Creates a coupon; the code is trimmed and upper-cased. Every limit is optional.
    public init(
        code: String, strategy: DiscountStrategy, summary: String? = nil, validFrom: Date? = nil,
        validUntil: Date? = nil, minimumSubtotal: Money? = nil
    ) {
        self.code = Coupon.normalize(code)
        self.strategy = strategy
        self.summary = summary
        self.validFrom = validFrom
        self.validUntil = validUntil
        self.minimumSubtotal = minimumSubtotal
    }

    /// The form in which codes are compared: surrounding white space removed, upper case.
    public static func normalize(_ code: String) -> String {
        code.trimmingCharacters(in: .whitespaces).uppercased()
    }

    /// Why the coupon does not apply to an order of `subtotal` priced at `date`, or `nil` when
    /// it applies. The window is looked at first, then the minimum.
    /// - Throws: ``DomainError/Code/currencyMismatch`` when ``minimumSubtotal`` is in another
    ///   currency than `subtotal`.
    public func notAppliedReason(subtotal: Money, at date: Date) throws(DomainError) -> NotAppliedReason? {
        if let validFrom, date < validFrom { return .notYetValid }
        if let validUntil, date > validUntil { return .expired }
        if let minimumSubtotal, try subtotal.isLess(than: minimumSubtotal) { return .belowMinimumSubtotal }
        return nil
    }

    /// Whether the coupon applies to `order` at `date` (see ``notAppliedReason(subtotal:at:)``).
    /// - Throws: ``DomainError/Code/currencyMismatch``.
    public func isApplicable(to order: Order, at date: Date) throws(DomainError) -> Bool {
        try notAppliedReason(subtotal: order.total, at: date) == nil
    }

    /// Checks the limits against each other and against the catalog's `currency`.
    /// - Throws: ``DomainError/Code/invalidConfiguration``.
    func validateLimits(currency: Currency) throws(DomainError) {
        if let validFrom, let validUntil, validUntil < validFrom {
            throw DomainError(.invalidConfiguration, "coupon \(code): valid_until is before valid_from")
        }
        if let minimumSubtotal, minimumSubtotal.currency != currency {
            throw DomainError(.invalidConfiguration, "coupon \(code): minimum_subtotal is not in \(currency)")
        }
    }
}
