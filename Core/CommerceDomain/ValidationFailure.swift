/// One reason an ``OrderRequest`` is invalid: what rule, which field, and a sentence.
///
/// The order worker copies these into `order.rejected` (`violations`), so ``Code/name`` and
/// ``field`` are part of the message contract.
public struct ValidationFailure: Hashable, Sendable, CustomStringConvertible {
    /// The rule that failed; compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable snake_case name used in messages (`invalid_quantity`).
        public let name: String

        /// Creates a code; custom checks may define their own.
        public init(_ name: String) { self.name = name }

        /// The order has no lines.
        public static let emptyOrder = Code("empty_order")
        /// A quantity is zero or negative.
        public static let invalidQuantity = Code("invalid_quantity")
        /// A quantity is above the configured maximum.
        public static let quantityTooLarge = Code("quantity_too_large")
        /// A unit price is negative.
        public static let negativePrice = Code("negative_price")
        /// The currency code is malformed or not accepted.
        public static let unsupportedCurrency = Code("unsupported_currency")
        /// Lines are in different currencies.
        public static let currencyMismatch = Code("currency_mismatch")
        /// A required field is empty.
        public static let missingField = Code("missing_field")
        /// The address's country is not one the platform delivers to.
        public static let undeliverableAddress = Code("undeliverable_address")
        /// The coupon code is not in the catalog.
        public static let unknownCoupon = Code("unknown_coupon")
        /// More lines than the configured maximum.
        public static let tooManyLines = Code("too_many_lines")
        /// A string is longer than the configured maximum.
        public static let fieldTooLong = Code("field_too_long")
        /// The email address is not of the form `local@domain`.
        public static let invalidEmail = Code("invalid_email")
        /// The order total does not fit in `Int` minor units.
        public static let amountOverflow = Code("amount_overflow")

        public var description: String { name }
    }

    /// Which rule failed.
    public var code: Code
    /// The offending field's path in the contract's words (`items[2].quantity`); empty for the
    /// order as a whole.
    public var field: String
    /// A human-readable explanation.
    public var message: String

    /// Creates a failure.
    public init(_ code: Code, field: String, _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    public var description: String { field.isEmpty ? "\(code): \(message)" : "\(code) at \(field): \(message)" }
}
