/// What the payment worker's `prepare` learnt from the card processor, outside the transaction,
/// for `handle` to record inside it (docs/architecture.md, "Handlers").
public enum PaymentPreparation: Sendable, Hashable {
    /// `stock.reserved`: the processor's answer to the order's charge.
    case charge(ChargeResult)
    /// `stock.reserved` for an order this process already saw cancelled: nothing was charged.
    case cancelledBeforeCharge
    /// `order.cancelled`: the order's charge was captured as `paymentID`, and this is the answer
    /// to its refund.
    case refund(paymentID: String, RefundResult)
    /// `order.cancelled`: the processor holds no capture for the order (yet).
    case nothingCaptured
    /// A message that needs nothing of the processor.
    case none
}
