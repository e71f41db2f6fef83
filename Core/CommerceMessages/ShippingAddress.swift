import CommerceDomain

/// The `shipping_address` object of `order.place` and the order events.
///
/// Completeness and deliverability are order-validation rules, so any strings are carried.
public struct ShippingAddress: Codable, Sendable, Hashable {
    /// Street and number.
    public var street: String
    /// City.
    public var city: String
    /// Postal code.
    public var postalCode: String
    /// ISO 3166-1 alpha-2 country code (`KR`).
    public var country: String
    /// Extra line (floor, unit), if any.
    public var detail: String?

    /// Creates an address.
    public init(street: String, city: String, postalCode: String, country: String = "KR", detail: String? = nil) {
        self.street = street
        self.city = city
        self.postalCode = postalCode
        self.country = country
        self.detail = detail
    }

    /// The contract form of a domain address.
    public init(_ address: Address) {
        self.init(
            street: address.street, city: address.city, postalCode: address.postalCode, country: address.country,
            detail: address.detail)
    }

    /// The domain form of this address.
    public var address: Address {
        Address(street: street, city: city, postalCode: postalCode, country: country, detail: detail)
    }

    enum CodingKeys: String, CodingKey {
        case street, city, country, detail
        case postalCode = "postal_code"
    }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        street = try container.contractString(.street)
        city = try container.contractString(.city)
        postalCode = try container.contractString(.postalCode)
        country = try container.contractString(.country)
        detail = try container.contractOptionalString(.detail)
    }
}
