import CommerceDomain

/// A message body of the contract: one conforming type per ``MessageType``.
///
/// Decoding is strict about what it needs and tolerant about what it does not: a missing key,
/// a wrong JSON type, a negative amount, a malformed currency or an unknown enum value is a
/// ``ContractError``; **an unknown extra key is ignored** (tolerant reader). Events evolve by
/// adding fields, and producers in other languages may add their own; ignoring extras lets a
/// new producer roll out before every consumer, while anything a consumer acts on is checked.
/// The JSON Schemas say the same (`additionalProperties` is not restricted). Encoding is
/// deterministic: sorted keys, no insignificant white space, absent optionals omitted.
public protocol ContractMessage: Codable, Sendable, Hashable {
    /// The type (and routing key) of this message.
    static var messageType: MessageType { get }
    /// The order the message is about: the saga's correlation id.
    var orderID: String { get }
}

extension ContractMessage {
    /// Decodes a body of this type strictly.
    /// - Throws: ``ContractError`` naming the offending field.
    public static func decode(from body: some Collection<UInt8>) throws(ContractError) -> Self {
        try ContractCoding.decode(Self.self, from: body)
    }

    /// The UTF-8 JSON body: sorted keys, deterministic for equal values.
    public func encodedBody() -> [UInt8] {
        ContractCoding.encode(self)
    }

    /// A new envelope for this message: a fresh message id, `correlation_id` = ``orderID``,
    /// `type` = ``messageType``, `causation_id` = the message this one reacts to, and that
    /// message's trace context.
    public func envelope(appID: String, causedBy cause: Envelope? = nil) -> Envelope {
        Envelope(
            correlationID: orderID, causationID: cause?.messageID, type: Self.messageType.rawValue, appID: appID,
            traceParent: cause?.traceParent, traceState: cause?.traceState)
    }
}
