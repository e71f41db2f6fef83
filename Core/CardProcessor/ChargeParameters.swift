/// The body of `POST /v1/charges`, validated: `amount` (minor units, 1 … 10¹²), `currency` (three
/// letters, stored upper-case), `payment_token` and `order_reference` (1 … 255 characters each).
struct ChargeParameters: Codable, Sendable, Hashable {
    var amount: Int
    var currency: String
    var paymentToken: String
    var orderReference: String

    enum CodingKeys: String, CodingKey {
        case amount, currency
        case paymentToken = "payment_token"
        case orderReference = "order_reference"
    }

    /// The largest amount accepted, in minor units.
    static let maximumAmount = 1_000_000_000_000

    /// Checks the ranges and normalises the currency.
    /// - Throws: ``APIError`` `invalid_request` naming the field.
    func validated() throws(APIError) -> ChargeParameters {
        guard amount > 0, amount <= Self.maximumAmount else {
            throw .invalidRequest("amount must be a positive integer of minor units up to \(Self.maximumAmount)")
        }
        guard currency.unicodeScalars.count == 3, currency.unicodeScalars.allSatisfy({ $0.isASCIILetter }) else {
            throw .invalidRequest("currency must be a three-letter ISO 4217 code")
        }
        try APIError.checkText(paymentToken, field: "payment_token")
        try APIError.checkText(orderReference, field: "order_reference")
        var normalised = self
        normalised.currency = currency.uppercased()
        return normalised
    }
}

/// The body of `POST /v1/refunds`, validated: `charge` (a charge id) and `amount` (minor units, > 0).
struct RefundParameters: Codable, Sendable, Hashable {
    var charge: String
    var amount: Int

    /// Checks the ranges.
    /// - Throws: ``APIError`` `invalid_request` naming the field.
    func validated() throws(APIError) -> RefundParameters {
        try APIError.checkText(charge, field: "charge")
        guard amount > 0, amount <= ChargeParameters.maximumAmount else {
            throw .invalidRequest("amount must be a positive integer of minor units")
        }
        return self
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIILetter: Bool { (65...90).contains(value) || (97...122).contains(value) }
}
