/// The card processor adapters the worker can use, chosen by the configuration key
/// `payment.gateway`; `PaymentsHTTP`'s `PaymentGatewayFactory` builds the one named.
public enum PaymentGatewayKind: String, Sendable, CaseIterable {
    /// ``SandboxGateway``: in process, test-mode tokens, forgotten at exit. For unit tests.
    case sandbox
    /// The HTTP adapter (`PaymentsHTTP`'s `HTTPPaymentGateway`) to a card processor's API: the
    /// `payment-gateway` server locally (docs/payment-gateway.md), configured by `payment.http.*`.
    case http
}
