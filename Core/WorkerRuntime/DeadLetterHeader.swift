/// Header names the runtime adds on retries and dead letters (docs/architecture.md, "Failures").
public enum DeadLetterHeader {
    /// `transient` or `permanent`.
    public static let errorClass = "x-error-class"
    /// Machine-readable reason (`malformed_json`, `retries_exhausted` …).
    public static let errorReason = "x-error-reason"
    /// What went wrong, for a person.
    public static let errorMessage = "x-error-message"
    /// Failed attempts so far.
    public static let attempts = "x-attempts"
    /// The worker queue the message failed in.
    public static let originalQueue = "x-original-queue"
    /// The routing key the message was first published with.
    public static let originalRoutingKey = "x-original-routing-key"
    /// ISO-8601 time of the failure.
    public static let failedAt = "x-failed-at"
    /// `worker@host (pid N)`.
    public static let failedBy = "x-failed-by"
}
