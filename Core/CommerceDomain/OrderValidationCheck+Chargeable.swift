extension OrderValidationCheck {
    /// The most a card processor charges at once, in minor units: the `payment-gateway`'s
    /// limit (docs/payment-gateway.md, "Limits"), 10¹².
    public static let maximumChargeAmount = 1_000_000_000_000
    /// The longest payment token a card processor takes, in Unicode scalars (as the
    /// `payment-gateway` counts): 255.
    public static let maximumPaymentTokenLength = 255

    /// The order can be charged: the card processor would take its payment token (1 to
    /// ``maximumPaymentTokenLength`` characters, no control character) and its amount (at most
    /// ``maximumChargeAmount``). Checked where the order is placed, because a charge the
    /// processor refuses for its form is refused on every attempt: the order would reserve stock
    /// and hold it for nothing.
    ///
    /// The amount checked is the subtotal (Σ quantity × unit price, over the lines that passed
    /// the earlier checks). The charged total is never above it once shipping is free, and below
    /// the free-shipping threshold it is at most that threshold plus the fee, far under the
    /// maximum. A subtotal that overflows is ``totalFits``'s to report.
    public static let chargeable = OrderValidationCheck(name: "chargeable") { request, _ in
        var failures: [ValidationFailure] = []
        if let token = request.paymentToken, let problem = paymentTokenProblem(token) {
            failures.append(ValidationFailure(.invalidPaymentToken, field: "payment_token", problem))
        }
        var subtotal = 0
        for line in request.lines where line.quantity > 0 && line.unitPrice >= 0 {
            let (lineTotal, lineOverflow) = line.unitPrice.multipliedReportingOverflow(by: line.quantity)
            let (sum, sumOverflow) = subtotal.addingReportingOverflow(lineTotal)
            guard !lineOverflow, !sumOverflow else { return Outcome(failures: failures) }
            subtotal = sum
        }
        if subtotal > maximumChargeAmount {
            failures.append(
                ValidationFailure(
                    .amountTooLarge, field: "items",
                    "the order total \(subtotal) is above the most a card processor charges, \(maximumChargeAmount)"))
        }
        return Outcome(failures: failures)
    }

    /// Why a card processor would refuse `token`, or `nil`: its rule for text (the
    /// `payment-gateway`'s `payment_token`: 1…255 Unicode scalars, no control character).
    static func paymentTokenProblem(_ token: String) -> String? {
        if token.isEmpty { return "the payment token is empty" }
        let length = token.unicodeScalars.count
        if length > maximumPaymentTokenLength {
            return "the payment token has \(length) characters; at most \(maximumPaymentTokenLength)"
        }
        if token.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "the payment token holds a control character"
        }
        return nil
    }
}

extension ValidationFailure.Code {
    /// The payment token is one no card processor takes: empty, too long, or with a control
    /// character.
    public static let invalidPaymentToken = ValidationFailure.Code("invalid_payment_token")
    /// The order total is above the most a card processor charges.
    public static let amountTooLarge = ValidationFailure.Code("amount_too_large")
}
