/// Every message type of the contract. The raw value is the AMQP `type` property and the
/// routing key on the `commerce` exchange (README.md, "The message contract").
public enum MessageType: String, CaseIterable, Hashable, Sendable, Codable {
    /// Upstream command: place an order (``PlaceOrder``).
    case orderPlace = "order.place"
    /// Upstream command: cancel an order (``CancelOrder``).
    case orderCancel = "order.cancel"
    /// The order was validated, priced and stored (``OrderPlaced``).
    case orderPlaced = "order.placed"
    /// The command was invalid; terminal (``OrderRejected``).
    case orderRejected = "order.rejected"
    /// Paid and reserved; terminal (``OrderConfirmed``).
    case orderConfirmed = "order.confirmed"
    /// Cancelled, compensations follow; terminal (``OrderCancelled``).
    case orderCancelled = "order.cancelled"
    /// Every line is reserved (``StockReserved``).
    case stockReserved = "stock.reserved"
    /// Some line could not be reserved (``StockRejected``).
    case stockRejected = "stock.rejected"
    /// A reservation or sale was returned to stock (``StockReleased``).
    case stockReleased = "stock.released"
    /// The charge was captured (``PaymentSucceeded``).
    case paymentSucceeded = "payment.succeeded"
    /// The charge was declined (``PaymentFailed``).
    case paymentFailed = "payment.failed"
    /// A captured charge was refunded (``PaymentRefunded``).
    case paymentRefunded = "payment.refunded"

    /// Whether this is an upstream command (`order.place`, `order.cancel`) rather than an event.
    public var isCommand: Bool { self == .orderPlace || self == .orderCancel }

    /// The Swift type of this message's body.
    public var contractType: any ContractMessage.Type {
        switch self {
        case .orderPlace: PlaceOrder.self
        case .orderCancel: CancelOrder.self
        case .orderPlaced: OrderPlaced.self
        case .orderRejected: OrderRejected.self
        case .orderConfirmed: OrderConfirmed.self
        case .orderCancelled: OrderCancelled.self
        case .stockReserved: StockReserved.self
        case .stockRejected: StockRejected.self
        case .stockReleased: StockReleased.self
        case .paymentSucceeded: PaymentSucceeded.self
        case .paymentFailed: PaymentFailed.self
        case .paymentRefunded: PaymentRefunded.self
        }
    }
}
