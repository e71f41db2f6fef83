import Logging

/// The card processor adapters the worker can use, chosen by the configuration key
/// `payment.gateway`.
public enum PaymentGatewayKind: String, Sendable, CaseIterable {
    /// ``SandboxGateway``: in process, test-mode tokens. The only adapter so far; an `http`
    /// adapter to a real processor comes later.
    case sandbox

    /// A new gateway of this kind, timed and logged by ``MeteredGateway``.
    public func makeGateway(logger: Logger) -> any PaymentGateway {
        switch self {
        case .sandbox: MeteredGateway(SandboxGateway(), logger: logger)
        }
    }
}
