import CommerceDomain
import Foundation

/// An `order.place` that breaks the contract but names its order: the `order_id` can be read, so
/// the upstream is answered with `order.rejected` (``rejection``) instead of hearing nothing.
///
/// Made by ``PlaceOrder/read(envelope:body:)``. Every part of the body is read on its own, so
/// ``violations`` lists every top-level field and every item that breaks the schema (the first
/// fault inside each), then a `correlation_id` that differs from the `order_id`. What could be
/// read of the customer and the currency is kept for the rejection (the notification needs the
/// customer's address); what could not is absent.
public struct InvalidPlaceOrder: Sendable, Hashable {
    /// The order id: a string of 1…``ContractCoding/maximumIdentifierLength`` characters.
    public var orderID: String
    /// The customer, when that part of the body meets the contract.
    public var customer: Customer?
    /// The currency, when it is three upper-case letters.
    public var currency: Currency?
    /// Every contract violation found, in the body's field order.
    public var violations: [Violation]
    /// The command in canonical form (sorted keys, no insignificant white space): the
    /// fingerprint that tells the same command sent again from another command under the same
    /// order id. For a body that meets the contract (only the envelope is wrong) it is the body
    /// a valid command would have, ``ContractMessage/encodedBody()``.
    public var canonicalBody: [UInt8]

    /// Creates the value.
    public init(
        orderID: String, customer: Customer?, currency: Currency?, violations: [Violation], canonicalBody: [UInt8]
    ) {
        self.orderID = orderID
        self.customer = customer
        self.currency = currency
        self.violations = violations
        self.canonicalBody = canonicalBody
    }

    /// The answer: `order.rejected`, reason `invalid_order`, with every violation.
    public var rejection: OrderRejected {
        let summary = violations.map { violation in
            violation.field.isEmpty
                ? "\(violation.code): \(violation.message)"
                : "\(violation.code) at \(violation.field): \(violation.message)"
        }
        return OrderRejected(
            orderID: orderID, customer: customer, currency: currency, message: summary.joined(separator: "; "),
            violations: violations)
    }
}

extension PlaceOrder {
    /// What an `order.place` delivery is to the order-worker.
    public enum Reading: Sendable, Hashable {
        /// It meets the contract: validate and price it.
        case valid(PlaceOrder)
        /// It breaks the contract but names its order: reject it.
        case invalid(InvalidPlaceOrder)
    }

    /// Reads an `order.place` delivery (docs/upstream.md, "Body" and "What you never hear about").
    ///
    /// A command that meets the contract, envelope included (``AnyMessage/decode(envelope:body:)``),
    /// is ``Reading/valid(_:)``. Any other command whose `order_id` can be read is
    /// ``Reading/invalid(_:)``: a wrong JSON type, a missing key, a negative amount, a malformed
    /// currency, a `correlation_id` that is absent or differs from the `order_id`.
    /// - Throws: ``ContractError`` when the command cannot be answered, because it does not say
    ///   which order it is: a content type other than JSON, a body over
    ///   ``ContractCoding/maximumBodySize``, a body that is not a JSON object, or an `order_id`
    ///   that is absent or not an identifier. The runtime dead-letters those.
    public static func read(envelope: Envelope, body: some Collection<UInt8>) throws(ContractError) -> Reading {
        let strictError: ContractError
        do throws(ContractError) {
            if case .placeOrder(let command) = try AnyMessage.decode(envelope: envelope, body: body) {
                return .valid(command)
            }
            throw ContractError(.unknownType, "'\(envelope.type.prefix(64))' is not order.place")
        } catch {
            switch error.code {
            case .unsupportedContentType, .bodyTooLarge, .unknownType: throw error
            default: strictError = error
            }
        }
        let draft = try ContractCoding.decode(Draft.self, from: body)
        var violations = draft.violations.map { Violation(code: $0.code.name, field: $0.field, message: $0.message) }
        if envelope.correlationID != draft.orderID {
            let shown = envelope.correlationID.isEmpty ? "absent" : "'\(envelope.correlationID.prefix(128))'"
            violations.append(
                Violation(
                    code: ContractError.Code.correlationMismatch.name, field: "correlation_id",
                    message: "correlation_id is \(shown); it must be the order_id '\(draft.orderID)'"))
        }
        if violations.isEmpty {
            // The parts read one by one met the contract while the whole did not: report what the
            // whole-body decoding found rather than nothing.
            violations.append(
                Violation(code: strictError.code.name, field: strictError.field, message: strictError.message))
        }
        let canonical = (try? PlaceOrder.decode(from: body))?.encodedBody() ?? Self.canonicalJSON(body)
        return .invalid(
            InvalidPlaceOrder(
                orderID: draft.orderID, customer: draft.customer, currency: draft.currency, violations: violations,
                canonicalBody: canonical))
    }

    /// `body` with sorted keys and no insignificant white space (it parsed as JSON already).
    private static func canonicalJSON(_ body: some Collection<UInt8>) -> [UInt8] {
        guard let value = try? JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed]),
            let data = try? JSONSerialization.data(
                withJSONObject: value, options: [.sortedKeys, .withoutEscapingSlashes])
        else { return Array(body) }
        return Array(data)
    }

    /// An `order.place` body read part by part: the order id must be readable (or decoding
    /// throws), every other part that breaks the contract adds a violation instead of ending
    /// the reading.
    private struct Draft: Decodable {
        var orderID: String
        var customer: Customer?
        var currency: Currency?
        var violations: [ContractError] = []

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            orderID = try container.contractIdentifier(.orderID)
            var found: [ContractError] = []
            func part<Value>(_ read: () throws -> Value) -> Value? {
                do { return try read() } catch {
                    found.append(ContractError(anyError: error))
                    return nil
                }
            }
            customer = part { try container.decode(Customer.self, forKey: .customer) }
            currency = part { try container.contractCurrency(.currency) }
            if let items = part({ try container.decode([Item].self, forKey: .items) }) {
                found += items.compactMap(\.error)
            }
            _ = part { try container.decode(ShippingAddress.self, forKey: .shippingAddress) }
            _ = part { try container.contractString(.paymentToken) }
            _ = part { try container.contractOptionalString(.couponCode) }
            violations = found
        }
    }

    /// One element of `items`, read without ending the array's reading when it is invalid.
    private struct Item: Decodable {
        var error: ContractError?

        init(from decoder: any Decoder) {
            do { _ = try OrderLine(from: decoder) } catch { self.error = ContractError(anyError: error) }
        }
    }
}

extension ContractError {
    /// The contract's form of whatever a contract decoder threw.
    init(anyError error: any Error) {
        if let contract = error as? ContractError {
            self = contract
        } else if let decoding = error as? DecodingError {
            self.init(decodingError: decoding)
        } else {
            self.init(.malformedJSON, "\(error)")
        }
    }
}
