/// What the payment worker's `prepare` learnt from the card processor, outside the transaction,
/// for `handle` to record inside it (docs/architecture.md, "Handlers").
public enum PaymentPreparation: Sendable, Hashable {
    /// `stock.reserved`: the processor's answer to the order's charge.
    case charge(ChargeResult)
    /// `stock.reserved` for an order this process already saw cancelled, and the processor holds
    /// no capture for it: nothing is charged.
    case cancelledBeforeCharge
    /// `stock.reserved` for an order this process already saw cancelled, which the processor had
    /// captured all the same as `paymentID` (an earlier attempt of this message, another copy or
    /// another delivery charged it before the cancellation was known there): owed back.
    case capturedAfterCancel(paymentID: String)
    /// `order.cancelled`: the order's charge was captured as `paymentID`, and this is the answer
    /// to its refund.
    case refund(paymentID: String, RefundResult)
    /// `order.cancelled`: the processor holds no capture for the order (yet).
    case nothingCaptured
    /// A message that needs nothing of the processor.
    case none
}
