import Testing

@testable import WorkerRuntime

@Suite("RecoverabilityPolicy")
struct RecoverabilityPolicyTests {
    private let policy = RecoverabilityPolicy(
        maximumAttempts: 5, retryDelays: [.seconds(1), .seconds(5), .seconds(30)])
    private let timeout = HandlingFailure.transient("gateway_timeout", "the gateway did not answer")
    private let malformed = HandlingFailure.permanent("malformed_json", "unexpected end of input")

    @Test("a permanent failure is dead-lettered at once with its own reason and message", arguments: [0, 1, 3, 4, 50])
    func permanentDeadLettersAtOnce(previousAttempts: Int) {
        #expect(
            policy.decide(malformed, previousAttempts: previousAttempts)
                == .deadLetter(
                    reason: "malformed_json", message: "unexpected end of input", attempts: previousAttempts + 1))
    }

    @Test(
        "a transient failure waits in tier min(attempts, tiers) - 1 while attempts stay below the maximum",
        arguments: [(0, 0, 1), (1, 1, 2), (2, 2, 3), (3, 2, 4)])
    func transientRetries(previousAttempts: Int, tier: Int, attempts: Int) {
        #expect(policy.decide(timeout, previousAttempts: previousAttempts) == .retry(tier: tier, attempts: attempts))
    }

    @Test("at the maximum a transient failure is dead-lettered as retries_exhausted, naming attempts and last reason")
    func transientExhausted() {
        #expect(
            policy.decide(timeout, previousAttempts: 4)
                == .deadLetter(
                    reason: "retries_exhausted",
                    message: "gave up after 5 attempts; last error (gateway_timeout): the gateway did not answer",
                    attempts: 5))
    }

    @Test("past the maximum a transient failure is still dead-lettered", arguments: [5, 9, 1000])
    func transientPastMaximum(previousAttempts: Int) {
        guard
            case .deadLetter(let reason, let message, let attempts) = policy.decide(
                timeout, previousAttempts: previousAttempts)
        else {
            Issue.record("expected a dead letter")
            return
        }
        #expect(reason == "retries_exhausted")
        #expect(attempts == previousAttempts + 1)
        #expect(message.hasPrefix("gave up after \(previousAttempts + 1) attempts;"))
    }

    @Test("negative previous attempts count as none", arguments: [-1, -7, Int.min])
    func negativePreviousAttempts(previousAttempts: Int) {
        #expect(policy.decide(timeout, previousAttempts: previousAttempts) == .retry(tier: 0, attempts: 1))
        #expect(
            policy.decide(malformed, previousAttempts: previousAttempts)
                == .deadLetter(reason: "malformed_json", message: "unexpected end of input", attempts: 1))
    }

    @Test("without retry tiers a transient failure is dead-lettered on the first attempt")
    func noTiers() {
        let noTiers = RecoverabilityPolicy(maximumAttempts: 5, retryDelays: [])
        #expect(
            noTiers.decide(timeout, previousAttempts: 0)
                == .deadLetter(
                    reason: "retries_exhausted",
                    message: "gave up after 1 attempts; last error (gateway_timeout): the gateway did not answer",
                    attempts: 1))
    }

    @Test("a maximum of one attempt dead-letters the first transient failure")
    func singleAttempt() {
        let once = RecoverabilityPolicy(maximumAttempts: 1, retryDelays: [.seconds(1)])
        guard case .deadLetter(let reason, _, let attempts) = once.decide(timeout, previousAttempts: 0) else {
            Issue.record("expected a dead letter")
            return
        }
        #expect(reason == "retries_exhausted")
        #expect(attempts == 1)
    }

    @Test("the last error's message is cut to 900 characters in the exhausted message")
    func longMessageTruncated() {
        let long = HandlingFailure.transient("gateway_timeout", String(repeating: "x", count: 5000))
        guard case .deadLetter(_, let message, _) = policy.decide(long, previousAttempts: 4) else {
            Issue.record("expected a dead letter")
            return
        }
        let prefix = "gave up after 5 attempts; last error (gateway_timeout): "
        #expect(message == prefix + String(repeating: "x", count: 900))
    }
}
