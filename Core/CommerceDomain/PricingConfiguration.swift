import Foundation

/// The figures ``Pricing`` uses besides coupons: shipping and membership discounts.
///
/// Defaults: KRW, free shipping from 50,000, else a flat 3,000; members get
/// `gold` 10 % and `silver` 5 % off after the coupon. Membership levels are data: a level not
/// in ``membershipDiscounts`` gets no discount. As a JSON document (`config/pricing.json`):
/// ```json
/// { "currency": "KRW", "free_shipping_threshold": 50000, "shipping_fee": 3000,
///   "membership_discounts": { "gold": 10, "silver": 5 } }
/// ```
public struct PricingConfiguration: Hashable, Sendable, Codable {
    /// The currency the figures are in; orders in another currency cannot be priced.
    public var currency: Currency
    /// Orders whose total before discounts reaches this amount ship free.
    public var freeShippingThreshold: Money
    /// The flat shipping fee below the threshold.
    public var shippingFee: Money
    /// Discount percentage (0...100) by membership level name, applied after the coupon.
    public var membershipDiscounts: [String: Int]

    /// Creates a configuration; every argument has the documented default.
    public init(
        currency: Currency = .krw,
        freeShippingThreshold: Money? = nil,
        shippingFee: Money? = nil,
        membershipDiscounts: [String: Int] = ["gold": 10, "silver": 5]
    ) {
        self.currency = currency
        // 50,000 and 3,000 are non-negative literals, so these cannot throw.
        self.freeShippingThreshold = freeShippingThreshold ?? (try! Money(amount: 50_000, currency: currency))
        self.shippingFee = shippingFee ?? (try! Money(amount: 3_000, currency: currency))
        self.membershipDiscounts = membershipDiscounts
    }

    /// The discount percentage of a membership level; 0 for `nil` or an unknown level.
    public func membershipPercent(for level: String?) -> Int {
        guard let level else { return 0 }
        return membershipDiscounts[level.lowercased()] ?? 0
    }

    /// Checks that amounts are in ``currency`` and percentages within 0...100.
    /// - Throws: ``DomainError/Code/invalidConfiguration``.
    public func validate() throws(DomainError) {
        guard freeShippingThreshold.currency == currency, shippingFee.currency == currency else {
            throw DomainError(.invalidConfiguration, "pricing amounts must be in \(currency)")
        }
        for (level, percent) in membershipDiscounts where !(0...100).contains(percent) {
            throw DomainError(.invalidConfiguration, "membership \(level): \(percent)% is outside 0...100")
        }
    }

    /// Decodes and checks a pricing document; missing keys take their defaults.
    /// - Throws: ``DomainError/Code/invalidConfiguration``.
    public static func decode(from data: Data) throws(DomainError) -> PricingConfiguration {
        let configuration: PricingConfiguration
        do {
            configuration = try JSONDecoder().decode(PricingConfiguration.self, from: data)
        } catch let error as DomainError where error.code == .invalidConfiguration {
            throw error
        } catch let error as DomainError {
            throw DomainError(.invalidConfiguration, "pricing configuration: \(error.message)")
        } catch {
            throw DomainError(.invalidConfiguration, "pricing configuration: \(error)")
        }
        try configuration.validate()
        return configuration
    }

    // MARK: Codable

    private enum CodingKeys: String, CodingKey {
        case currency
        case freeShippingThreshold = "free_shipping_threshold"
        case shippingFee = "shipping_fee"
        case membershipDiscounts = "membership_discounts"
    }

    /// Decodes the document shape shown above.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let currency = try container.decodeIfPresent(Currency.self, forKey: .currency) ?? .krw
        let threshold = try container.decodeIfPresent(Int.self, forKey: .freeShippingThreshold)
        let fee = try container.decodeIfPresent(Int.self, forKey: .shippingFee)
        self.init(
            currency: currency,
            freeShippingThreshold: try threshold.map { amount throws(DomainError) in
                try Money(amount: amount, currency: currency)
            },
            shippingFee: try fee.map { amount throws(DomainError) in try Money(amount: amount, currency: currency) },
            membershipDiscounts: try container.decodeIfPresent([String: Int].self, forKey: .membershipDiscounts)
                ?? ["gold": 10, "silver": 5])
    }

    /// Encodes the document shape shown above.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(currency, forKey: .currency)
        try container.encode(freeShippingThreshold.amount, forKey: .freeShippingThreshold)
        try container.encode(shippingFee.amount, forKey: .shippingFee)
        try container.encode(membershipDiscounts, forKey: .membershipDiscounts)
    }
}
