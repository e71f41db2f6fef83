import Resilience
import Testing

@Suite("Backoff")
struct BackoffTests {
    private let exponential = Backoff(
        initialDelay: .milliseconds(100), multiplier: 2, maximumDelay: .seconds(1), jitter: .none)

    @Test(
        "without jitter the delay doubles from the initial delay and stops at the cap",
        arguments: [
            (1, Duration.milliseconds(100)), (2, .milliseconds(200)), (3, .milliseconds(400)),
            (4, .milliseconds(800)), (5, .seconds(1)), (6, .seconds(1)), (60, .seconds(1)),
        ])
    func exponentialWithCap(attempt: Int, expected: Duration) {
        var generator = SplitMix64(seed: 1)
        #expect(exponential.delay(forAttempt: attempt, using: &generator) == expected)
        #expect(exponential.cappedDelay(forAttempt: attempt) == expected)
    }

    @Test("attempts below 1 count as the first retry", arguments: [0, -1, Int.min])
    func attemptBelowOne(attempt: Int) {
        #expect(exponential.cappedDelay(forAttempt: attempt) == .milliseconds(100))
    }

    @Test("huge attempts and multipliers saturate at the cap instead of overflowing")
    func noOverflow() {
        #expect(exponential.cappedDelay(forAttempt: .max) == .seconds(1))
        let steep = Backoff(initialDelay: .seconds(1), multiplier: 1e300, maximumDelay: .seconds(3600), jitter: .none)
        #expect(steep.cappedDelay(forAttempt: 5) == .seconds(3600))
        let huge = Backoff(initialDelay: .seconds(1), multiplier: 2, maximumDelay: .seconds(Int64.max), jitter: .full)
        #expect(huge.cappedDelay(forAttempt: 1000) > .zero)
        #expect(huge.delay(forAttempt: 1000) >= .zero)
    }

    @Test("multiplier 1 keeps the delay constant; an initial delay above the cap is capped")
    func constantAndCapped() {
        let constant = Backoff(
            initialDelay: .milliseconds(250), multiplier: 1, maximumDelay: .seconds(1), jitter: .none)
        #expect(
            (1...10).map { constant.cappedDelay(forAttempt: $0) } == Array(repeating: .milliseconds(250), count: 10))
        let capped = Backoff(initialDelay: .seconds(5), maximumDelay: .seconds(2), jitter: .none)
        #expect(capped.cappedDelay(forAttempt: 1) == .seconds(2))
    }

    @Test("a zero initial delay never waits")
    func zeroDelay() {
        let zero = Backoff(initialDelay: .zero, maximumDelay: .seconds(1), jitter: .full)
        #expect((1...5).map { zero.delay(forAttempt: $0) } == Array(repeating: .zero, count: 5))
    }

    @Test("full jitter stays within 0...capped delay and spreads", arguments: [1, 2, 3, 4, 8])
    func fullJitterBounds(attempt: Int) {
        let backoff = Backoff(initialDelay: .milliseconds(100), maximumDelay: .seconds(1), jitter: .full)
        var generator = SplitMix64(seed: UInt64(attempt))
        let cap = backoff.cappedDelay(forAttempt: attempt)
        let delays = (0..<1000).map { _ in backoff.delay(forAttempt: attempt, using: &generator) }
        #expect(delays.allSatisfy { $0 >= .zero && $0 <= cap })
        #expect(delays.min()! < cap / 10, "full jitter reaches close to zero")
        #expect(delays.max()! > cap * 0.9, "full jitter reaches close to the cap")
    }

    @Test("equal jitter stays within capped/2...capped", arguments: [1, 2, 3, 4, 8])
    func equalJitterBounds(attempt: Int) {
        let backoff = Backoff(initialDelay: .milliseconds(100), maximumDelay: .seconds(1), jitter: .equal)
        var generator = SplitMix64(seed: 42 + UInt64(attempt))
        let cap = backoff.cappedDelay(forAttempt: attempt)
        let delays = (0..<1000).map { _ in backoff.delay(forAttempt: attempt, using: &generator) }
        #expect(delays.allSatisfy { $0 >= cap / 2 && $0 <= cap })
        #expect(delays.min()! < cap * 0.55)
        #expect(delays.max()! > cap * 0.95)
    }

    @Test("equal jitter of an odd number of nanoseconds can still reach the full delay")
    func equalJitterOdd() {
        let backoff = Backoff(initialDelay: .nanoseconds(3), maximumDelay: .nanoseconds(3), jitter: .equal)
        var generator = SplitMix64(seed: 7)
        let delays = Set((0..<200).map { _ in backoff.delay(forAttempt: 1, using: &generator) })
        #expect(delays == [.nanoseconds(2), .nanoseconds(3)])
    }

    @Test("the same seed gives the same delays; another seed gives others")
    func deterministic() {
        let backoff = Backoff(initialDelay: .milliseconds(100), maximumDelay: .seconds(30), jitter: .full)
        func delays(seed: UInt64) -> [Duration] {
            var generator = SplitMix64(seed: seed)
            return (1...10).map { backoff.delay(forAttempt: $0, using: &generator) }
        }
        #expect(delays(seed: 2024) == delays(seed: 2024))
        #expect(delays(seed: 2024) != delays(seed: 2025))
    }

    @Test("the system-random delay respects the same bounds")
    func systemRandom() {
        let backoff = Backoff(initialDelay: .milliseconds(100), maximumDelay: .seconds(1), jitter: .full)
        for attempt in 1...10 {
            let delay = backoff.delay(forAttempt: attempt)
            #expect(delay >= .zero && delay <= backoff.cappedDelay(forAttempt: attempt))
        }
    }
}
