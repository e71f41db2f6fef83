/// The limits and sets the order validation checks against. Every default is documented.
public struct OrderValidationConfiguration: Hashable, Sendable, Codable {
    /// ISO 3166-1 alpha-2 codes the platform ships to. Default `["KR"]`.
    public var deliverableCountries: Set<String>
    /// Currency codes accepted for orders. Default `["KRW"]` (must match ``PricingConfiguration``).
    public var acceptedCurrencies: Set<String>
    /// Most lines in one order. Default 100.
    public var maximumLineCount: Int
    /// Most units of one line. Default 1,000.
    public var maximumQuantity: Int
    /// Longest free-text field (names, street, city, detail, email), in characters. Default 200.
    public var maximumTextLength: Int
    /// Longest identifier (order id, customer id, SKU, postal code, coupon code). Default 64.
    public var maximumIdentifierLength: Int

    /// Creates a configuration; every argument has the documented default.
    public init(
        deliverableCountries: Set<String> = ["KR"],
        acceptedCurrencies: Set<String> = ["KRW"],
        maximumLineCount: Int = 100,
        maximumQuantity: Int = 1_000,
        maximumTextLength: Int = 200,
        maximumIdentifierLength: Int = 64
    ) {
        self.deliverableCountries = deliverableCountries
        self.acceptedCurrencies = acceptedCurrencies
        self.maximumLineCount = maximumLineCount
        self.maximumQuantity = maximumQuantity
        self.maximumTextLength = maximumTextLength
        self.maximumIdentifierLength = maximumIdentifierLength
    }

    private enum CodingKeys: String, CodingKey {
        case deliverableCountries = "deliverable_countries"
        case acceptedCurrencies = "accepted_currencies"
        case maximumLineCount = "maximum_line_count"
        case maximumQuantity = "maximum_quantity"
        case maximumTextLength = "maximum_text_length"
        case maximumIdentifierLength = "maximum_identifier_length"
    }

    /// Decodes snake_case keys; a missing key takes its default.
    public init(from decoder: any Decoder) throws {
        let defaults = OrderValidationConfiguration()
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            deliverableCountries: try container.decodeIfPresent(Set<String>.self, forKey: .deliverableCountries)
                ?? defaults.deliverableCountries,
            acceptedCurrencies: try container.decodeIfPresent(Set<String>.self, forKey: .acceptedCurrencies)
                ?? defaults.acceptedCurrencies,
            maximumLineCount: try container.decodeIfPresent(Int.self, forKey: .maximumLineCount)
                ?? defaults.maximumLineCount,
            maximumQuantity: try container.decodeIfPresent(Int.self, forKey: .maximumQuantity)
                ?? defaults.maximumQuantity,
            maximumTextLength: try container.decodeIfPresent(Int.self, forKey: .maximumTextLength)
                ?? defaults.maximumTextLength,
            maximumIdentifierLength: try container.decodeIfPresent(Int.self, forKey: .maximumIdentifierLength)
                ?? defaults.maximumIdentifierLength)
    }

    /// Encodes snake_case keys (sets as sorted arrays, for stable output).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(deliverableCountries.sorted(), forKey: .deliverableCountries)
        try container.encode(acceptedCurrencies.sorted(), forKey: .acceptedCurrencies)
        try container.encode(maximumLineCount, forKey: .maximumLineCount)
        try container.encode(maximumQuantity, forKey: .maximumQuantity)
        try container.encode(maximumTextLength, forKey: .maximumTextLength)
        try container.encode(maximumIdentifierLength, forKey: .maximumIdentifierLength)
    }
}
