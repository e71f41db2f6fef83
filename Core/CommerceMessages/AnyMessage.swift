import Foundation

/// Any message of the contract: one case per ``MessageType``.
///
/// The runtime decodes a delivery with ``decode(type:body:)`` (or
/// ``decode(envelope:body:)``, which also checks the envelope) and switches over the cases:
/// ```swift
/// switch try AnyMessage.decode(type: delivery.type, body: delivery.body) {
/// case .orderPlaced(let placed): reserve(placed.lines)
/// default: break  // not for this worker
/// }
/// ```
/// Every failure is a ``ContractError`` (permanent: dead-letter at once).
public enum AnyMessage: Sendable, Hashable {
    /// `order.place`
    case placeOrder(PlaceOrder)
    /// `order.cancel`
    case cancelOrder(CancelOrder)
    /// `order.placed`
    case orderPlaced(OrderPlaced)
    /// `order.rejected`
    case orderRejected(OrderRejected)
    /// `order.confirmed`
    case orderConfirmed(OrderConfirmed)
    /// `order.cancelled`
    case orderCancelled(OrderCancelled)
    /// `stock.reserved`
    case stockReserved(StockReserved)
    /// `stock.rejected`
    case stockRejected(StockRejected)
    /// `stock.released`
    case stockReleased(StockReleased)
    /// `payment.succeeded`
    case paymentSucceeded(PaymentSucceeded)
    /// `payment.failed`
    case paymentFailed(PaymentFailed)
    /// `payment.refunded`
    case paymentRefunded(PaymentRefunded)

    /// Decodes a body whose AMQP `type` (routing key) is `type`.
    /// - Throws: ``ContractError`` — ``ContractError/Code/unknownType`` for a type outside
    ///   ``MessageType``, otherwise the body's first violation with its field path.
    public static func decode(type: String, body: some Collection<UInt8>) throws(ContractError) -> AnyMessage {
        guard let messageType = MessageType(rawValue: type) else {
            throw ContractError(.unknownType, "'\(type.prefix(64))' is not a message type of the contract")
        }
        return try decode(messageType, body: body)
    }

    /// Decodes a body of a known type.
    /// - Throws: ``ContractError``.
    public static func decode(_ type: MessageType, body: some Collection<UInt8>) throws(ContractError) -> AnyMessage {
        switch type {
        case .orderPlace: .placeOrder(try PlaceOrder.decode(from: body))
        case .orderCancel: .cancelOrder(try CancelOrder.decode(from: body))
        case .orderPlaced: .orderPlaced(try OrderPlaced.decode(from: body))
        case .orderRejected: .orderRejected(try OrderRejected.decode(from: body))
        case .orderConfirmed: .orderConfirmed(try OrderConfirmed.decode(from: body))
        case .orderCancelled: .orderCancelled(try OrderCancelled.decode(from: body))
        case .stockReserved: .stockReserved(try StockReserved.decode(from: body))
        case .stockRejected: .stockRejected(try StockRejected.decode(from: body))
        case .stockReleased: .stockReleased(try StockReleased.decode(from: body))
        case .paymentSucceeded: .paymentSucceeded(try PaymentSucceeded.decode(from: body))
        case .paymentFailed: .paymentFailed(try PaymentFailed.decode(from: body))
        case .paymentRefunded: .paymentRefunded(try PaymentRefunded.decode(from: body))
        }
    }

    /// Decodes a delivery and checks its envelope against the body: the content type must be
    /// `application/json` (parameters such as `; charset=utf-8` allowed) and the
    /// `correlation_id` must equal the body's `order_id`.
    /// - Throws: ``ContractError`` — also ``ContractError/Code/unsupportedContentType`` and
    ///   ``ContractError/Code/correlationMismatch``.
    public static func decode(envelope: Envelope, body: some Collection<UInt8>) throws(ContractError) -> AnyMessage {
        let mediaType = envelope.contentType.split(separator: ";").first.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }
        guard mediaType == "application/json" else {
            throw ContractError(
                .unsupportedContentType, field: "content_type",
                "'\(envelope.contentType.prefix(64))' is not application/json")
        }
        let message = try decode(type: envelope.type, body: body)
        guard message.orderID == envelope.correlationID else {
            throw ContractError(
                .correlationMismatch, field: "correlation_id",
                "correlation_id '\(envelope.correlationID.prefix(128))' differs from order_id '\(message.orderID)'")
        }
        return message
    }

    /// The wrapped message.
    public var message: any ContractMessage {
        switch self {
        case .placeOrder(let message): message
        case .cancelOrder(let message): message
        case .orderPlaced(let message): message
        case .orderRejected(let message): message
        case .orderConfirmed(let message): message
        case .orderCancelled(let message): message
        case .stockReserved(let message): message
        case .stockRejected(let message): message
        case .stockReleased(let message): message
        case .paymentSucceeded(let message): message
        case .paymentFailed(let message): message
        case .paymentRefunded(let message): message
        }
    }

    /// The message's type (and routing key).
    public var messageType: MessageType { type(of: message).messageType }

    /// The order the message is about (the saga's correlation id).
    public var orderID: String { message.orderID }

    /// The deterministic UTF-8 JSON body (sorted keys).
    public func encodedBody() -> [UInt8] { message.encodedBody() }
}
