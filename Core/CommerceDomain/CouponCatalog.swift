import Foundation

/// The coupons the platform honours: data, not code.
///
/// Workers load it from a JSON document (the default is `config/coupons.json`) with
/// ``decode(from:)``; reading the file is the executable's job, so this module stays free of
/// I/O. The document's shape:
/// ```json
/// { "currency": "KRW",
///   "coupons": [
///     { "code": "SUMMER20",   "strategy": "percentage", "percent": 20 },
///     { "code": "WELCOME5000", "strategy": "fixed", "amount": 5000 },
///     { "code": "TIERED",     "strategy": "tiered",
///       "tiers": [ { "threshold": 50000, "percent": 5 }, { "threshold": 100000, "percent": 10 } ] },
///     { "code": "BIG10000",   "strategy": "fixed", "amount": 10000, "minimum_subtotal": 100000,
///       "valid_from": "2026-01-01T00:00:00+09:00", "valid_until": "2026-12-31T23:59:59+09:00" } ] }
/// ```
/// Amounts are minor units of the catalog's `currency`. Codes are unique ignoring case.
/// `valid_from`, `valid_until` (ISO 8601 date-times with an offset, both inclusive) and
/// `minimum_subtotal` are optional limits of a coupon (``Coupon``).
public struct CouponCatalog: Hashable, Sendable, Codable {
    /// The currency of every fixed amount and threshold in the catalog.
    public let currency: Currency
    private let couponsByCode: [String: Coupon]

    /// Every coupon, sorted by code.
    public var coupons: [Coupon] { couponsByCode.values.sorted { $0.code < $1.code } }

    /// An empty catalog: every code is unknown.
    public static let empty = CouponCatalog(currency: .krw, validated: [])

    /// Creates a catalog after checking every coupon.
    /// - Throws: ``DomainError/Code/invalidConfiguration`` for a duplicate or empty code, an
    ///   invalid strategy, a window that ends before it starts or a minimum in another currency.
    public init(currency: Currency = .krw, coupons: [Coupon]) throws(DomainError) {
        var seen = Set<String>()
        for coupon in coupons {
            guard !coupon.code.isEmpty else { throw DomainError(.invalidConfiguration, "a coupon code is empty") }
            guard seen.insert(coupon.code).inserted else {
                throw DomainError(.invalidConfiguration, "coupon code \(coupon.code) appears twice")
            }
            do {
                try coupon.strategy.validate(currency: currency)
            } catch {
                throw DomainError(.invalidConfiguration, "coupon \(coupon.code): \(error.message)")
            }
            try coupon.validateLimits(currency: currency)
        }
        self.init(currency: currency, validated: coupons)
    }

    private init(currency: Currency, validated coupons: [Coupon]) {
        self.currency = currency
        self.couponsByCode = Dictionary(uniqueKeysWithValues: coupons.map { ($0.code, $0) })
    }

    /// The coupon for `code` (case-insensitive), or `nil`.
    public func coupon(for code: String) -> Coupon? {
        couponsByCode[Coupon.normalize(code)]
    }

    /// Whether `code` names a coupon (case-insensitive).
    public func contains(_ code: String) -> Bool { coupon(for: code) != nil }

    /// Decodes and checks a catalog document.
    /// - Throws: ``DomainError/Code/invalidConfiguration`` naming what is wrong.
    public static func decode(from data: Data) throws(DomainError) -> CouponCatalog {
        do {
            return try JSONDecoder().decode(CouponCatalog.self, from: data)
        } catch let error as DomainError where error.code == .invalidConfiguration {
            throw error
        } catch let error as DomainError {
            throw DomainError(.invalidConfiguration, "coupon catalog: \(error.message)")
        } catch {
            throw DomainError(.invalidConfiguration, "coupon catalog: \(error)")
        }
    }

    // MARK: Codable

    private enum CodingKeys: String, CodingKey { case currency, coupons }
    private enum CouponKeys: String, CodingKey {
        case code, strategy, percent, amount, tiers, summary
        case validFrom = "valid_from"
        case validUntil = "valid_until"
        case minimumSubtotal = "minimum_subtotal"
    }
    private enum TierKeys: String, CodingKey { case threshold, percent }

    /// Decodes the document shape shown above.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let currency = try container.decodeIfPresent(Currency.self, forKey: .currency) ?? .krw
        var list = try container.nestedUnkeyedContainer(forKey: .coupons)
        var coupons: [Coupon] = []
        while !list.isAtEnd {
            let entry = try list.nestedContainer(keyedBy: CouponKeys.self)
            let code = try entry.decode(String.self, forKey: .code)
            let kind = try entry.decode(String.self, forKey: .strategy)
            let strategy: DiscountStrategy
            switch kind {
            case "percentage":
                strategy = .percentage(try entry.decode(Int.self, forKey: .percent))
            case "fixed":
                strategy = .fixed(try Money(amount: entry.decode(Int.self, forKey: .amount), currency: currency))
            case "tiered":
                var tierList = try entry.nestedUnkeyedContainer(forKey: .tiers)
                var tiers: [DiscountTier] = []
                while !tierList.isAtEnd {
                    let tier = try tierList.nestedContainer(keyedBy: TierKeys.self)
                    tiers.append(
                        DiscountTier(
                            threshold: try Money(amount: tier.decode(Int.self, forKey: .threshold), currency: currency),
                            percent: try tier.decode(Int.self, forKey: .percent)))
                }
                strategy = .tiered(tiers)
            default:
                throw DomainError(.invalidConfiguration, "coupon \(code): unknown strategy '\(kind)'")
            }
            let minimum = try entry.decodeIfPresent(Int.self, forKey: .minimumSubtotal)
            coupons.append(
                Coupon(
                    code: code, strategy: strategy, summary: try entry.decodeIfPresent(String.self, forKey: .summary),
                    validFrom: try Self.date(entry, .validFrom, coupon: code),
                    validUntil: try Self.date(entry, .validUntil, coupon: code),
                    minimumSubtotal: try minimum.map { amount throws(DomainError) in
                        try Money(amount: amount, currency: currency)
                    }))
        }
        try self.init(currency: currency, coupons: coupons)
    }

    /// Encodes the document shape shown above, coupons sorted by code.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(currency, forKey: .currency)
        var list = container.nestedUnkeyedContainer(forKey: .coupons)
        for coupon in coupons {
            var entry = list.nestedContainer(keyedBy: CouponKeys.self)
            try entry.encode(coupon.code, forKey: .code)
            try entry.encodeIfPresent(coupon.summary, forKey: .summary)
            try entry.encodeIfPresent(coupon.validFrom.map(Self.dateFormatter().string(from:)), forKey: .validFrom)
            try entry.encodeIfPresent(coupon.validUntil.map(Self.dateFormatter().string(from:)), forKey: .validUntil)
            try entry.encodeIfPresent(coupon.minimumSubtotal?.amount, forKey: .minimumSubtotal)
            switch coupon.strategy {
            case .percentage(let percent):
                try entry.encode("percentage", forKey: .strategy)
                try entry.encode(percent, forKey: .percent)
            case .fixed(let amount):
                try entry.encode("fixed", forKey: .strategy)
                try entry.encode(amount.amount, forKey: .amount)
            case .tiered(let tiers):
                try entry.encode("tiered", forKey: .strategy)
                var tierList = entry.nestedUnkeyedContainer(forKey: .tiers)
                for tier in tiers {
                    var tierEntry = tierList.nestedContainer(keyedBy: TierKeys.self)
                    try tierEntry.encode(tier.threshold.amount, forKey: .threshold)
                    try tierEntry.encode(tier.percent, forKey: .percent)
                }
            }
        }
    }

    /// An optional ISO 8601 date-time with an offset (`2026-06-01T00:00:00+09:00`).
    private static func date(
        _ entry: KeyedDecodingContainer<CouponKeys>, _ key: CouponKeys, coupon code: String
    ) throws -> Date? {
        guard let text = try entry.decodeIfPresent(String.self, forKey: key) else { return nil }
        guard let date = dateFormatter().date(from: text) else {
            throw DomainError(
                .invalidConfiguration,
                "coupon \(code): \(key.stringValue) '\(text)' is not an ISO 8601 date-time such as 2026-06-01T00:00:00+09:00"
            )
        }
        return date
    }

    // A new formatter per use: ISO8601DateFormatter is not Sendable, and catalogs are read once.
    private static func dateFormatter() -> ISO8601DateFormatter {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter
    }
}
