import Foundation

/// A shipping address.
///
/// Plain data: whether an address is complete and deliverable is decided by the order
/// validation (``AddressCheck``, with the configured deliverable countries).
public struct Address: Hashable, Sendable, Codable {
    /// Street and number (`Teheran-ro 123`).
    public var street: String
    /// City (`Seoul`).
    public var city: String
    /// Postal code (`06234`).
    public var postalCode: String
    /// ISO 3166-1 alpha-2 country code; `KR` by default.
    public var country: String
    /// Optional extra line (floor, unit).
    public var detail: String?

    /// Creates an address.
    public init(street: String, city: String, postalCode: String, country: String = "KR", detail: String? = nil) {
        self.street = street
        self.city = city
        self.postalCode = postalCode
        self.country = country
        self.detail = detail
    }

    /// The address on one line, as notifications and labels print it: street, then the detail
    /// line when there is one, then city and postal code, then country
    /// (`Teheran-ro 123, 5F, Seoul 06234, KR`). Blank parts are left out, never printed as
    /// empty separators.
    public var fullAddress: String {
        func part(_ value: String?) -> String? {
            let trimmed = value?.trimmingCharacters(in: .whitespaces) ?? ""
            return trimmed.isEmpty ? nil : trimmed
        }
        let locality = [part(city), part(postalCode)].compactMap { $0 }.joined(separator: " ")
        return [part(street), part(detail), part(locality), part(country)].compactMap { $0 }.joined(separator: ", ")
    }
}
