/// An error raised by a rule of the commerce domain.
///
/// One struct for the whole module, with an opaque ``Code`` whose static members name each
/// rule, so that a new code can be added without breaking a caller's `switch` (the style of
/// swift-kafka-client's `KafkaError`). ``field`` names the offending input where there is one
/// (`items[0].quantity`, `coupon_code`), and ``message`` is a sentence for a person.
public struct DomainError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The rule that was broken. Compare with the static members (`error.code == .overflow`).
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable, machine-readable name of the code (`currency_mismatch`).
        public let name: String

        private init(_ name: String) { self.name = name }

        /// A money amount would be negative.
        public static let negativeAmount = Code("negative_amount")
        /// Two amounts in different currencies were combined.
        public static let currencyMismatch = Code("currency_mismatch")
        /// An arithmetic result does not fit in `Int` minor units.
        public static let overflow = Code("overflow")
        /// A currency code is not three upper-case ASCII letters (ISO 4217 form).
        public static let invalidCurrency = Code("invalid_currency")
        /// A percentage is outside 0...100.
        public static let invalidPercentage = Code("invalid_percentage")
        /// A quantity is not strictly positive.
        public static let invalidQuantity = Code("invalid_quantity")
        /// No line of the order has this product id.
        public static let itemNotFound = Code("item_not_found")
        /// The same product was added again with a different unit price or name.
        public static let conflictingItem = Code("conflicting_item")
        /// A coupon code is not in the catalog.
        public static let unknownCoupon = Code("unknown_coupon")
        /// A configuration document (coupon catalog, pricing) is malformed or inconsistent.
        public static let invalidConfiguration = Code("invalid_configuration")
        /// An order request failed validation; ``DomainError/message`` lists the reasons.
        public static let invalidOrder = Code("invalid_order")

        public var description: String { name }
    }

    /// Which rule was broken.
    public var code: Code
    /// A human-readable explanation.
    public var message: String
    /// The offending field, as a path (`items[0].quantity`), when there is one.
    public var field: String?

    /// Creates an error.
    public init(_ code: Code, _ message: String, field: String? = nil) {
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String {
        if let field { return "\(code) at \(field): \(message)" }
        return "\(code): \(message)"
    }
}
