/// What happens to a message that failed: a pure function of the failure, the attempts so far and
/// the configuration, so every rule is unit-tested without a broker (NServiceBus calls this its
/// recoverability policy). ``FailureRouter`` carries the decision out.
public struct RecoverabilityPolicy: Sendable, Hashable {
    /// Attempts (the first delivery included) before a transiently failing message is dead-lettered.
    public var maximumAttempts: Int
    /// Delays of the retry tiers, shortest first (``Topology/retryDelays``).
    public var retryDelays: [Duration]

    public init(maximumAttempts: Int, retryDelays: [Duration]) {
        self.maximumAttempts = maximumAttempts
        self.retryDelays = retryDelays
    }

    /// The verdict for one failed attempt.
    public enum Decision: Sendable, Hashable {
        /// Wait in retry tier `tier` (0-based), then run again; `attempts` failures so far.
        case retry(tier: Int, attempts: Int)
        /// Park in the dead-letter queue with this reason and message; `attempts` failures so far.
        case deadLetter(reason: String, message: String, attempts: Int)
    }

    /// Decides for a message that failed with `failure` after `previousAttempts` earlier failures.
    ///
    /// Permanent failures are dead-lettered at once with their own reason. Transient ones wait in
    /// tier `min(attempts, tiers) - 1` while fewer than ``maximumAttempts`` attempts have failed,
    /// then are dead-lettered as `retries_exhausted`, the last error kept in the message.
    public func decide(_ failure: HandlingFailure, previousAttempts: Int) -> Decision {
        let attempts = max(previousAttempts, 0) + 1
        switch failure.failureClass {
        case .permanent:
            return .deadLetter(reason: failure.reason, message: failure.message, attempts: attempts)
        case .transient where attempts < maximumAttempts && !retryDelays.isEmpty:
            return .retry(tier: min(attempts, retryDelays.count) - 1, attempts: attempts)
        case .transient:
            return .deadLetter(
                reason: "retries_exhausted",
                message:
                    "gave up after \(attempts) attempts; last error (\(failure.reason)): \(failure.message.prefix(900))",
                attempts: attempts)
        }
    }
}
