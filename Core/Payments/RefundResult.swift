/// A card processor's answer to a refund.
public enum RefundResult: Sendable, Hashable {
    /// The money went back: `refundID` names the refund, `amount` is what was refunded.
    case refunded(refundID: String, amount: Int)
    /// The processor refused (`unknown_payment`, `amount_exceeds_capture`): nothing moved.
    case refused(code: String, message: String)
}
