import Foundation

/// A coupon: a code customers type and the ``DiscountStrategy`` it applies.
public struct Coupon: Hashable, Sendable {
    /// The code, normalized to upper case (`SUMMER20`); matching is case-insensitive.
    public let code: String
    /// How the discount is computed.
    public let strategy: DiscountStrategy
    /// A note for people reading the catalog.
    public let summary: String?

    /// Creates a coupon; the code is trimmed and upper-cased.
    public init(code: String, strategy: DiscountStrategy, summary: String? = nil) {
        self.code = Coupon.normalize(code)
        self.strategy = strategy
        self.summary = summary
    }

    /// The form in which codes are compared: surrounding white space removed, upper case.
    public static func normalize(_ code: String) -> String {
        code.trimmingCharacters(in: .whitespaces).uppercased()
    }
}
