/// Why ``CircuitBreaker`` refused a call.
///
/// An enum rather than a struct with an opaque code: a breaker has exactly one way to refuse,
/// and callers want to read the retry-after directly from the pattern.
public enum CircuitBreakerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The circuit is open (or its half-open trials are all in flight); the protected
    /// dependency was not called. Try again after `retryAfter`. A transient error: a retry
    /// policy should treat it as retryable.
    case open(retryAfter: Duration)

    /// A sentence naming the wait.
    public var description: String {
        switch self {
        case .open(let retryAfter): "circuit open; retry after \(retryAfter)"
        }
    }
}
