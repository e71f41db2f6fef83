/// The result of ``OrderValidator/validate(_:)``: every failure found, in chain order.
public struct ValidationReport: Hashable, Sendable {
    /// The failures, in the order the checks ran; empty when the request is valid.
    public var failures: [ValidationFailure]
    /// The name of the check that stopped the chain early, if one did.
    public var stoppedBy: String?

    /// Creates a report.
    public init(failures: [ValidationFailure] = [], stoppedBy: String? = nil) {
        self.failures = failures
        self.stoppedBy = stoppedBy
    }

    /// Whether no check failed.
    public var isValid: Bool { failures.isEmpty }

    /// One sentence listing every failure, for the human `message` of `order.rejected`.
    public var summary: String {
        isValid ? "valid" : failures.map(\.description).joined(separator: "; ")
    }
}
