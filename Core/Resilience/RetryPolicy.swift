import Foundation

/// How often to try an operation and how long to wait between tries.
public struct RetryPolicy: Sendable, Hashable {
    /// The most times the operation runs, counting the first; at least 1.
    public var maximumAttempts: Int
    /// The waits between tries: retry 1 waits `backoff.delay(forAttempt: 1)`, and so on.
    public var backoff: Backoff

    /// A policy. Defaults: 5 attempts, 100 ms doubling up to 30 s with full jitter.
    ///
    /// - Precondition: `maximumAttempts` ≥ 1.
    public init(maximumAttempts: Int = 5, backoff: Backoff = Backoff()) {
        precondition(maximumAttempts >= 1, "a retry policy runs the operation at least once")
        self.maximumAttempts = maximumAttempts
        self.backoff = backoff
    }
}

/// Runs `operation`, retrying it after a backoff while it throws retryable errors.
///
/// Stops at the first success, at a non-retryable error (thrown at once), at a
/// `CancellationError` (never retried), or after ``RetryPolicy/maximumAttempts`` tries, when the
/// last error is thrown unchanged. Cancellation of the task during a wait ends it with
/// `CancellationError`.
///
/// Runs in the caller's isolation, so the closures need not be `Sendable`. For blocking code on
/// a dedicated thread use ``withBlockingRetry(policy:isRetryable:onRetry:sleep:operation:)``.
///
/// - Parameters:
///   - policy: Attempts and backoff.
///   - isRetryable: Whether an error is worth another try (a transient one); all errors by
///     default.
///   - onRetry: Called before each wait with the error, the number of the retry about to
///     happen (1 for the first) and the delay: the place to log.
///   - sleep: Waits for a delay; `Task.sleep(for:)` by default, replaceable in tests.
///   - operation: The work.
public func withRetry<T>(
    policy: RetryPolicy,
    isRetryable: (any Error) -> Bool = { _ in true },
    onRetry: (_ error: any Error, _ retry: Int, _ delay: Duration) -> Void = { _, _, _ in },
    sleep: (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
    isolation: isolated (any Actor)? = #isolation,
    operation: () async throws -> T
) async throws -> T {
    var attempt = 1
    while true {
        do {
            return try await operation()
        } catch {
            guard attempt < policy.maximumAttempts, !(error is CancellationError), isRetryable(error) else {
                throw error
            }
            try Task.checkCancellation()
            let delay = policy.backoff.delay(forAttempt: attempt)
            onRetry(error, attempt, delay)
            try await sleep(delay)
            attempt += 1
        }
    }
}

/// The blocking form of ``withRetry(policy:isRetryable:onRetry:sleep:isolation:operation:)``,
/// for code on a dedicated thread (a C client's connection thread). Never call it on Swift's
/// cooperative pool: its waits block the thread.
///
/// Same rules: stops at success, at a non-retryable error or `CancellationError`, or after
/// ``RetryPolicy/maximumAttempts`` tries with the last error.
///
/// - Parameter sleep: Blocks for a delay; `Thread.sleep(forTimeInterval:)` by default.
public func withBlockingRetry<T>(
    policy: RetryPolicy,
    isRetryable: (any Error) -> Bool = { _ in true },
    onRetry: (_ error: any Error, _ retry: Int, _ delay: Duration) -> Void = { _, _, _ in },
    sleep: (Duration) -> Void = {
        Thread.sleep(forTimeInterval: Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18)
    },
    operation: () throws -> T
) throws -> T {
    var attempt = 1
    while true {
        do {
            return try operation()
        } catch {
            guard attempt < policy.maximumAttempts, !(error is CancellationError), isRetryable(error) else {
                throw error
            }
            let delay = policy.backoff.delay(forAttempt: attempt)
            onRetry(error, attempt, delay)
            sleep(delay)
            attempt += 1
        }
    }
}
