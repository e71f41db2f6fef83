/// How a coupon computes its discount from the order total (before any discount).
///
/// Every strategy returns an amount between zero and the total, in the total's currency.
public enum DiscountStrategy: Hashable, Sendable {
    /// `total × percent / 100`, rounded down (integer division). `percent` is within 0...100.
    case percentage(Int)
    /// A fixed amount, capped at the total.
    case fixed(Money)
    /// The percentage of the highest tier whose threshold the total reaches; nothing below the
    /// lowest threshold. Example: 50,000 → 5 %, 100,000 → 10 %, 200,000 → 15 %.
    case tiered([DiscountTier])

    /// The discount this strategy gives on `total`.
    /// - Throws: ``DomainError/Code/currencyMismatch`` (a fixed amount or tier threshold in
    ///   another currency), ``DomainError/Code/invalidPercentage``, ``DomainError/Code/overflow``.
    public func discount(on total: Money) throws(DomainError) -> Money {
        switch self {
        case .percentage(let percent):
            return try total.percentage(percent)
        case .fixed(let amount):
            return try amount.minimum(total)
        case .tiered(let tiers):
            var best: DiscountTier?
            for tier in tiers {
                let reached = try !total.isLess(than: tier.threshold)
                guard reached else { continue }
                if let current = best, try !current.threshold.isLess(than: tier.threshold) { continue }
                best = tier
            }
            guard let best else { return .zero(total.currency) }
            return try total.percentage(best.percent)
        }
    }

    /// Checks the strategy's own data: percentages within 0...100, at least one tier, distinct
    /// thresholds, amounts in `currency`.
    /// - Throws: ``DomainError/Code/invalidConfiguration``.
    public func validate(currency: Currency) throws(DomainError) {
        switch self {
        case .percentage(let percent):
            guard (0...100).contains(percent) else {
                throw DomainError(.invalidConfiguration, "percentage \(percent) is outside 0...100")
            }
        case .fixed(let amount):
            guard amount.currency == currency else {
                throw DomainError(.invalidConfiguration, "fixed amount \(amount) is not in \(currency)")
            }
        case .tiered(let tiers):
            guard !tiers.isEmpty else { throw DomainError(.invalidConfiguration, "a tiered coupon needs tiers") }
            guard Set(tiers.map(\.threshold)).count == tiers.count else {
                throw DomainError(.invalidConfiguration, "tier thresholds must be distinct")
            }
            for tier in tiers {
                guard (0...100).contains(tier.percent), tier.threshold.currency == currency else {
                    throw DomainError(.invalidConfiguration, "tier \(tier.threshold) → \(tier.percent)% is invalid")
                }
            }
        }
    }
}

/// One step of a ``DiscountStrategy/tiered(_:)`` coupon: from `threshold` on, `percent` off.
public struct DiscountTier: Hashable, Sendable {
    /// The order total at which this tier starts to apply.
    public var threshold: Money
    /// The discount percentage, 0...100.
    public var percent: Int

    /// Creates a tier.
    public init(threshold: Money, percent: Int) {
        self.threshold = threshold
        self.percent = percent
    }
}
