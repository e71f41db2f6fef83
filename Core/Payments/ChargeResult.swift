/// A card processor's answer to a charge.
public enum ChargeResult: Sendable, Hashable {
    /// The amount was captured; `paymentID` names the capture (refunds name it).
    case captured(paymentID: String)
    /// The processor refused the card: `code` is its machine-readable reason (`card_declined`,
    /// `insufficient_funds`), `message` what a person reads.
    case declined(code: String, message: String)
}
