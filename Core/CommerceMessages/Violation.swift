import CommerceDomain

/// One reason an `order.place` was rejected (`violations` of `order.rejected`).
///
/// `code` is a ``ValidationFailure/Code`` name (`invalid_quantity`, `unknown_coupon`, …) and
/// is carried as a string: the list of validation rules grows with configuration, and a
/// consumer that does not know a code still has the `message`.
public struct Violation: Codable, Sendable, Hashable {
    /// The failed rule (`invalid_quantity`).
    public var code: String
    /// The offending field's path (`items[0].quantity`); empty for the whole order.
    public var field: String
    /// A human-readable explanation.
    public var message: String

    /// Creates a violation.
    public init(code: String, field: String, message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    /// The contract form of a domain validation failure.
    public init(_ failure: ValidationFailure) {
        self.init(code: failure.code.name, field: failure.field, message: failure.message)
    }

    enum CodingKeys: String, CodingKey { case code, field, message }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        code = try container.contractString(.code, nonEmpty: true)
        field = try container.contractString(.field)
        message = try container.contractString(.message)
    }
}
