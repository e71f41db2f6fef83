/// An ISO 4217 currency code such as `KRW`.
///
/// Only the form is checked (three upper-case ASCII letters); whether a currency is accepted
/// for orders is a rule of the order validation (``OrderValidationConfiguration``).
public struct Currency: Hashable, Sendable, CustomStringConvertible, Codable {
    /// The three-letter code.
    public let code: String

    /// The South Korean won, the platform's default currency (no minor unit: 1 = ₩1).
    public static let krw = Currency(unchecked: "KRW")

    /// Creates a currency from its code.
    /// - Throws: ``DomainError/Code/invalidCurrency`` unless `code` is three upper-case ASCII
    ///   letters.
    public init(_ code: String) throws(DomainError) {
        guard Currency.isWellFormed(code) else {
            throw DomainError(.invalidCurrency, "'\(code)' is not a three-letter upper-case ISO 4217 code")
        }
        self.code = code
    }

    private init(unchecked code: String) { self.code = code }

    /// Whether `code` has the ISO 4217 form: exactly three ASCII letters `A`–`Z`.
    public static func isWellFormed(_ code: String) -> Bool {
        let scalars = code.unicodeScalars
        return scalars.count == 3 && scalars.allSatisfy { $0.value >= 65 && $0.value <= 90 }
    }

    public var description: String { code }

    /// Decodes a bare code string (`"KRW"`), rejecting malformed codes.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let code = try container.decode(String.self)
        do {
            try self.init(code)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    /// Encodes the bare code string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(code)
    }
}
