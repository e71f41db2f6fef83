/// Why a message body or envelope does not meet the contract.
///
/// Every decoding failure of ``AnyMessage/decode(type:body:)`` and
/// ``ContractMessage/decode(from:)`` is one of these: never a crash, never a bare
/// `DecodingError`. ``field`` is the JSON path of the offending value (`items[0].quantity`,
/// empty for the body as a whole). A contract error is **permanent**: the runtime dead-letters
/// the message at once (docs/architecture.md, "Failures"). ``Code`` is an opaque struct with static members so
/// that codes can be added without breaking a caller's `switch`.
public struct ContractError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of violation; compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A stable snake_case name, suitable for the `x-error-message` header and metrics.
        public let name: String

        private init(_ name: String) { self.name = name }

        /// The `type` is not one of ``MessageType``.
        public static let unknownType = Code("unknown_type")
        /// The body is not UTF-8 JSON.
        public static let malformedJSON = Code("malformed_json")
        /// A required key is absent.
        public static let missingField = Code("missing_field")
        /// A value has the wrong JSON type (a string where an integer belongs, `null` for a
        /// required value, a fraction for an integer, an array for the body).
        public static let wrongType = Code("wrong_type")
        /// A money amount is negative.
        public static let negativeAmount = Code("negative_amount")
        /// A currency is not three upper-case letters (ISO 4217 form).
        public static let invalidCurrency = Code("invalid_currency")
        /// A string is not one of the values its enumeration allows (`reason`, `previous_status`).
        public static let unknownEnumValue = Code("unknown_enum_value")
        /// A value has the right type but breaks a contract constraint (empty `order_id`,
        /// integer out of range, event quantity below 1).
        public static let invalidValue = Code("invalid_value")
        /// The body is larger than ``ContractCoding/maximumBodySize``.
        public static let bodyTooLarge = Code("body_too_large")
        /// The envelope's content type is not `application/json`.
        public static let unsupportedContentType = Code("unsupported_content_type")
        /// The envelope's `correlation_id` differs from the body's `order_id`.
        public static let correlationMismatch = Code("correlation_mismatch")

        public var description: String { name }
    }

    /// The kind of violation.
    public var code: Code
    /// The JSON path of the offending value (`items[0].quantity`); empty for the whole body.
    public var field: String
    /// A human-readable explanation. It may quote a short piece of the offending value.
    public var message: String

    /// Creates an error.
    public init(_ code: Code, field: String = "", _ message: String) {
        self.code = code
        self.field = field
        self.message = message
    }

    public var description: String {
        field.isEmpty ? "\(code): \(message)" : "\(code) at \(field): \(message)"
    }
}
