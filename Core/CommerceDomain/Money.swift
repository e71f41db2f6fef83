/// An amount of money: integer minor units of one currency, never negative.
///
/// Floating point never appears: amounts are `Int` minor units (for KRW, whole won). Every
/// operation that could go wrong reports it as a ``DomainError`` instead of trapping:
/// combining different currencies (``DomainError/Code/currencyMismatch``), a result below zero
/// (``DomainError/Code/negativeAmount``) and `Int` overflow (``DomainError/Code/overflow``,
/// detected with `addingReportingOverflow` / `multipliedReportingOverflow`).
public struct Money: Hashable, Sendable, CustomStringConvertible {
    /// The amount in minor units of ``currency``; always `>= 0`.
    public let amount: Int
    /// The currency of ``amount``.
    public let currency: Currency

    /// Creates an amount.
    /// - Throws: ``DomainError/Code/negativeAmount`` when `amount < 0`.
    public init(amount: Int, currency: Currency = .krw) throws(DomainError) {
        guard amount >= 0 else {
            throw DomainError(.negativeAmount, "money cannot be negative (\(amount) \(currency))")
        }
        self.amount = amount
        self.currency = currency
    }

    /// Zero in `currency`.
    public static func zero(_ currency: Currency = .krw) -> Money {
        Money(uncheckedAmount: 0, currency: currency)
    }

    private init(uncheckedAmount amount: Int, currency: Currency) {
        self.amount = amount
        self.currency = currency
    }

    /// Whether the amount is zero.
    public var isZero: Bool { amount == 0 }

    /// The sum of `self` and `other`.
    /// - Throws: ``DomainError/Code/currencyMismatch`` or ``DomainError/Code/overflow``.
    public func adding(_ other: Money) throws(DomainError) -> Money {
        try requireSameCurrency(other)
        let (sum, overflow) = amount.addingReportingOverflow(other.amount)
        guard !overflow else { throw DomainError(.overflow, "\(self) + \(other) overflows") }
        return Money(uncheckedAmount: sum, currency: currency)
    }

    /// `self − other`.
    /// - Throws: ``DomainError/Code/currencyMismatch``, or ``DomainError/Code/negativeAmount``
    ///   when `other` is larger than `self`.
    public func subtracting(_ other: Money) throws(DomainError) -> Money {
        try requireSameCurrency(other)
        guard other.amount <= amount else {
            throw DomainError(.negativeAmount, "\(self) − \(other) would be negative")
        }
        return Money(uncheckedAmount: amount - other.amount, currency: currency)
    }

    /// `self × quantity`, as for a line total.
    /// - Throws: ``DomainError/Code/invalidQuantity`` when `quantity < 0`,
    ///   ``DomainError/Code/overflow`` when the product does not fit.
    public func multiplied(by quantity: Int) throws(DomainError) -> Money {
        guard quantity >= 0 else {
            throw DomainError(.invalidQuantity, "cannot multiply money by a negative quantity (\(quantity))")
        }
        let (product, overflow) = amount.multipliedReportingOverflow(by: quantity)
        guard !overflow else { throw DomainError(.overflow, "\(self) × \(quantity) overflows") }
        return Money(uncheckedAmount: product, currency: currency)
    }

    /// `self × percent / 100`, rounded down (integer division), as for a percentage discount.
    /// - Throws: ``DomainError/Code/invalidPercentage`` unless `0...100 ~= percent`,
    ///   ``DomainError/Code/overflow`` when `amount × percent` does not fit.
    public func percentage(_ percent: Int) throws(DomainError) -> Money {
        guard (0...100).contains(percent) else {
            throw DomainError(.invalidPercentage, "a percentage must be within 0...100, got \(percent)")
        }
        let (product, overflow) = amount.multipliedReportingOverflow(by: percent)
        guard !overflow else { throw DomainError(.overflow, "\(self) × \(percent)% overflows") }
        return Money(uncheckedAmount: product / 100, currency: currency)
    }

    /// The smaller of `self` and `other` (for caps such as "a fixed discount never exceeds the
    /// total").
    /// - Throws: ``DomainError/Code/currencyMismatch``.
    public func minimum(_ other: Money) throws(DomainError) -> Money {
        try requireSameCurrency(other)
        return other.amount < amount ? other : self
    }

    /// Whether `self < other`.
    /// - Throws: ``DomainError/Code/currencyMismatch``.
    public func isLess(than other: Money) throws(DomainError) -> Bool {
        try requireSameCurrency(other)
        return amount < other.amount
    }

    /// The sum of `amounts`, all in `currency`; zero for an empty sequence.
    /// - Throws: ``DomainError/Code/currencyMismatch`` or ``DomainError/Code/overflow``.
    public static func sum(_ amounts: some Sequence<Money>, currency: Currency = .krw) throws(DomainError) -> Money {
        var total = Money.zero(currency)
        for amount in amounts { total = try total.adding(amount) }
        return total
    }

    private func requireSameCurrency(_ other: Money) throws(DomainError) {
        guard currency == other.currency else {
            throw DomainError(.currencyMismatch, "cannot combine \(currency) with \(other.currency)")
        }
    }

    public var description: String { "\(amount) \(currency)" }
}
