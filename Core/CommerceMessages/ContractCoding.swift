import CommerceDomain
import Foundation

/// The JSON rules shared by every message of the contract.
///
/// Public for its limits; the coding helpers are internal.
public enum ContractCoding {
    /// The largest body accepted, 1 MiB. A larger body is a ``ContractError/Code/bodyTooLarge``
    /// without being parsed, so one oversized message cannot exhaust a worker's memory.
    public static let maximumBodySize = 1 << 20

    /// The longest `order_id` (and other ids) accepted, in characters.
    public static let maximumIdentifierLength = 128

    static func decode<Message: Decodable>(_ type: Message.Type, from body: some Collection<UInt8>)
        throws(ContractError)
        -> Message
    {
        guard body.count <= maximumBodySize else {
            throw ContractError(
                .bodyTooLarge, "the body has \(body.count) bytes; at most \(maximumBodySize) are accepted")
        }
        do {
            return try JSONDecoder().decode(Message.self, from: Data(body))
        } catch let error as ContractError {
            throw error
        } catch let error as DecodingError {
            throw ContractError(decodingError: error)
        } catch {
            throw ContractError(.malformedJSON, "\(error)")
        }
    }

    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // The contract's types hold only strings, integers, booleans, arrays and objects, for
        // which JSONEncoder cannot fail (it fails only on non-finite floating point numbers).
        return Array(try! encoder.encode(value))
    }

    /// `items[0].quantity` from a coding path.
    static func path(_ codingPath: [any CodingKey]) -> String {
        var result = ""
        for key in codingPath {
            if let index = key.intValue {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return result
    }
}

extension ContractError {
    /// Maps Foundation's decoding errors onto contract codes, keeping the field path.
    init(decodingError error: DecodingError) {
        switch error {
        case .keyNotFound(let key, let context):
            self.init(
                .missingField, field: ContractCoding.path(context.codingPath + [key]),
                "required key '\(key.stringValue)' is missing")
        case .typeMismatch(let type, let context):
            self.init(
                .wrongType, field: ContractCoding.path(context.codingPath),
                "expected \(ContractError.jsonName(of: type)): \(context.debugDescription)")
        case .valueNotFound(let type, let context):
            self.init(
                .wrongType, field: ContractCoding.path(context.codingPath),
                "expected \(ContractError.jsonName(of: type)), found null")
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                self.init(.malformedJSON, "the body is not valid UTF-8 JSON")
            } else {
                self.init(.invalidValue, field: ContractCoding.path(context.codingPath), context.debugDescription)
            }
        @unknown default:
            self.init(.malformedJSON, "\(error)")
        }
    }

    static func jsonName(of type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Int.Type: "an integer"
        case is Bool.Type: "a boolean"
        case is [Any].Type: "an array"
        default: type == [String: Any].self ? "an object" : "\(type)"
        }
    }
}

extension KeyedDecodingContainer {
    private func fail(_ code: ContractError.Code, _ key: Key, _ message: String) -> ContractError {
        ContractError(code, field: ContractCoding.path(codingPath + [key]), message)
    }

    /// A required string; `nonEmpty` rejects "" and `maximumLength` bounds it.
    func contractString(_ key: Key, nonEmpty: Bool = false, maximumLength: Int? = nil) throws -> String {
        let value = try decode(String.self, forKey: key)
        if nonEmpty, value.isEmpty { throw fail(.invalidValue, key, "must not be empty") }
        if let maximumLength, value.count > maximumLength {
            throw fail(.invalidValue, key, "longer than \(maximumLength) characters")
        }
        return value
    }

    /// An identifier: a non-empty string of at most ``ContractCoding/maximumIdentifierLength``.
    func contractIdentifier(_ key: Key) throws -> String {
        try contractString(key, nonEmpty: true, maximumLength: ContractCoding.maximumIdentifierLength)
    }

    /// An optional string; `null` counts as absent.
    func contractOptionalString(_ key: Key) throws -> String? {
        try decodeIfPresent(String.self, forKey: key)
    }

    /// A whole number. JSON numbers with a fraction are ``ContractError/Code/wrongType``, whole
    /// numbers beyond `Int` are ``ContractError/Code/invalidValue`` (Foundation would report both
    /// as unreadable JSON without a path).
    func contractInteger(_ key: Key, minimum: Int? = nil) throws -> Int {
        let value: Int
        do {
            value = try decode(Int.self, forKey: key)
        } catch {
            // Foundation reports a fraction or an out-of-range number with an internal error
            // that loses the path; a second look as Double tells those apart from a real type
            // mismatch (a string, a boolean), which is rethrown as it is.
            guard let number = try? decode(Double.self, forKey: key) else { throw error }
            if number.rounded() == number { throw fail(.invalidValue, key, "\(number) is out of range") }
            throw fail(.wrongType, key, "expected an integer, found \(number)")
        }
        if let minimum, value < minimum { throw fail(.invalidValue, key, "must be ≥ \(minimum), got \(value)") }
        return value
    }

    /// A money amount: an integer of minor units, never negative.
    func contractAmount(_ key: Key) throws -> Int {
        let value = try contractInteger(key)
        guard value >= 0 else { throw fail(.negativeAmount, key, "amount \(value) is negative") }
        return value
    }

    /// An ISO 4217 currency code (three upper-case letters).
    func contractCurrency(_ key: Key) throws -> Currency {
        let code = try decode(String.self, forKey: key)
        do {
            return try Currency(code)
        } catch {
            throw fail(.invalidCurrency, key, "'\(code.prefix(16))' is not a three-letter upper-case currency code")
        }
    }

    /// An optional ISO 4217 currency code; `null` counts as absent.
    func contractOptionalCurrency(_ key: Key) throws -> Currency? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        return try contractCurrency(key)
    }

    /// One of a string enumeration's raw values.
    func contractEnum<Value: RawRepresentable & CaseIterable>(_ type: Value.Type, _ key: Key) throws -> Value
    where Value.RawValue == String {
        let raw = try decode(String.self, forKey: key)
        guard let value = Value(rawValue: raw) else {
            let allowed = Value.allCases.map(\.rawValue).joined(separator: ", ")
            throw fail(.unknownEnumValue, key, "'\(raw.prefix(32))' is not one of: \(allowed)")
        }
        return value
    }
}
