import Resilience
import Synchronization
import Testing

/// A clock the test moves by hand.
private final class ManualClock: Sendable {
    private let current = Mutex(ContinuousClock.now)
    var now: ContinuousClock.Instant { current.withLock { $0 } }
    func advance(by duration: Duration) { current.withLock { $0 += duration } }
}

private struct GatewayDown: Error {}
private struct CardDeclined: Error {}

@Suite("CircuitBreaker")
struct CircuitBreakerTests {
    private let clock = ManualClock()

    private func breaker(threshold: Int = 3, timeout: Duration = .seconds(30), successes: Int = 1) -> CircuitBreaker {
        let clock = self.clock
        return CircuitBreaker(
            configuration: .init(failureThreshold: threshold, openTimeout: timeout, successThreshold: successes),
            clock: { clock.now })
    }

    private func fail(_ breaker: CircuitBreaker, times: Int = 1) throws {
        for _ in 0..<times { breaker.record(try breaker.acquire(), outcome: .failure) }
    }

    private func succeed(_ breaker: CircuitBreaker) throws {
        breaker.record(try breaker.acquire(), outcome: .success)
    }

    private func retryAfter(_ breaker: CircuitBreaker) -> Duration? {
        do {
            _ = try breaker.acquire()
            return nil
        } catch {
            guard case .open(let retryAfter) = error else { return nil }
            return retryAfter
        }
    }

    @Test("every change of phase is reported once, in order, including open → half-open seen at the next call")
    func reportsTransitions() throws {
        let clock = self.clock
        let seen = Mutex<[String]>([])
        let breaker = CircuitBreaker(
            configuration: .init(failureThreshold: 2, openTimeout: .seconds(10), successThreshold: 1),
            clock: { clock.now },
            onTransition: { transition in seen.withLock { $0.append("\(transition.from)→\(transition.to)") } })
        try fail(breaker)
        #expect(seen.withLock { $0 }.isEmpty, "one failure below the threshold changes no phase")
        try fail(breaker)
        clock.advance(by: .seconds(10))
        try fail(breaker)  // the half-open trial fails
        clock.advance(by: .seconds(10))
        try succeed(breaker)
        #expect(
            seen.withLock { $0 } == [
                "closed→open", "open→halfOpen", "halfOpen→open", "open→halfOpen", "halfOpen→closed",
            ])
    }

    @Test("a new breaker is closed and lets calls through")
    func startsClosed() throws {
        let breaker = breaker()
        #expect(breaker.state == .closed)
        try succeed(breaker)
        #expect(breaker.state == .closed)
    }

    @Test("it opens at exactly failureThreshold consecutive failures", arguments: [1, 2, 5])
    func opensAtThreshold(threshold: Int) throws {
        let breaker = breaker(threshold: threshold)
        try fail(breaker, times: threshold - 1)
        #expect(breaker.state == .closed)
        try fail(breaker)
        #expect(breaker.state == .open)
    }

    @Test("a success resets the consecutive-failure count; ignored outcomes do not")
    func successResets() throws {
        let breaker = breaker(threshold: 3)
        try fail(breaker, times: 2)
        try succeed(breaker)
        try fail(breaker, times: 2)
        #expect(breaker.state == .closed)
        breaker.record(try breaker.acquire(), outcome: .ignored)
        #expect(breaker.state == .closed)
        try fail(breaker)
        #expect(breaker.state == .open)
    }

    @Test("while open, calls are refused with the time left, which shrinks as time passes")
    func openRefuses() throws {
        let breaker = breaker(threshold: 1, timeout: .seconds(30))
        try fail(breaker)
        #expect(retryAfter(breaker) == .seconds(30))
        clock.advance(by: .seconds(12))
        #expect(retryAfter(breaker) == .seconds(18))
        clock.advance(by: .seconds(17))
        #expect(retryAfter(breaker) == .seconds(1))
        #expect(breaker.state == .open)
    }

    @Test("at the open timeout it becomes half-open and admits exactly successThreshold calls", arguments: [1, 3])
    func halfOpenAdmitsTrials(trials: Int) throws {
        let breaker = breaker(threshold: 1, timeout: .seconds(30), successes: trials)
        try fail(breaker)
        clock.advance(by: .seconds(30))
        #expect(breaker.state == .halfOpen)
        let permits = try (0..<trials).map { _ in try breaker.acquire() }
        #expect(permits.count == trials)
        #expect(retryAfter(breaker) == .seconds(30), "further calls wait a whole timeout")
        #expect(breaker.state == .halfOpen)
    }

    @Test("by default half-open closes after three successful trials, one at a time")
    func defaultSuccessThreshold() throws {
        let clock = self.clock
        let breaker = CircuitBreaker(configuration: .init(failureThreshold: 1), clock: { clock.now })
        try fail(breaker)
        clock.advance(by: .seconds(30))
        try succeed(breaker)
        #expect(breaker.state == .halfOpen, "one success is not enough")
        try succeed(breaker)
        #expect(breaker.state == .halfOpen, "two successes are not enough")
        try succeed(breaker)
        #expect(breaker.state == .closed)
    }

    @Test("half-open closes only when every trial succeeded")
    func halfOpenCloses() throws {
        let breaker = breaker(threshold: 1, successes: 2)
        try fail(breaker)
        clock.advance(by: .seconds(30))
        let first = try breaker.acquire()
        let second = try breaker.acquire()
        breaker.record(first, outcome: .success)
        #expect(breaker.state == .halfOpen)
        breaker.record(second, outcome: .success)
        #expect(breaker.state == .closed)
        // Closed again, with a fresh count: the next single failure opens it (threshold 1).
        try fail(breaker)
        #expect(breaker.state == .open)
    }

    @Test("one failed trial opens the circuit again for a full timeout")
    func halfOpenReopens() throws {
        let breaker = breaker(threshold: 1, timeout: .seconds(30), successes: 2)
        try fail(breaker)
        clock.advance(by: .seconds(45))
        let first = try breaker.acquire()
        let second = try breaker.acquire()
        breaker.record(first, outcome: .success)
        breaker.record(second, outcome: .failure)
        #expect(breaker.state == .open)
        #expect(retryAfter(breaker) == .seconds(30))
    }

    @Test("an ignored trial gives its slot back")
    func ignoredTrialFreesSlot() throws {
        let breaker = breaker(threshold: 1, successes: 1)
        try fail(breaker)
        clock.advance(by: .seconds(30))
        let cancelled = try breaker.acquire()
        #expect(retryAfter(breaker) != nil)
        breaker.record(cancelled, outcome: .ignored)
        #expect(breaker.state == .halfOpen)
        try succeed(breaker)
        #expect(breaker.state == .closed)
    }

    @Test("a late result from an earlier phase is not counted")
    func staleResultsIgnored() throws {
        let breaker = breaker(threshold: 2, timeout: .seconds(30), successes: 1)
        let slowClosedCall = try breaker.acquire()
        try fail(breaker, times: 2)
        #expect(breaker.state == .open)

        clock.advance(by: .seconds(20))
        breaker.record(slowClosedCall, outcome: .failure)
        #expect(retryAfter(breaker) == .seconds(10), "a late failure does not extend the open period")

        clock.advance(by: .seconds(10))
        let trial = try breaker.acquire()
        breaker.record(slowClosedCall, outcome: .success)
        #expect(breaker.state == .halfOpen, "a late success is not a trial")
        breaker.record(trial, outcome: .success)
        #expect(breaker.state == .closed)
        breaker.record(trial, outcome: .failure)
        #expect(breaker.state == .closed, "a permit counts once")
    }

    @Test("run passes results and errors through and counts them")
    func runCounts() async throws {
        let breaker = breaker(threshold: 2)
        #expect(try await breaker.run { 42 } == 42)
        await #expect(throws: GatewayDown.self) {
            try await breaker.run { () async throws -> Int in throw GatewayDown() }
        }
        #expect(breaker.state == .closed)
        await #expect(throws: GatewayDown.self) {
            try await breaker.run { () async throws -> Int in throw GatewayDown() }
        }
        #expect(breaker.state == .open)

        var called = false
        let error = await #expect(throws: CircuitBreakerError.self) {
            try await breaker.run { () async throws -> Int in
                called = true
                return 1
            }
        }
        #expect(error == .open(retryAfter: .seconds(30)))
        #expect(!called, "an open circuit does not call the dependency")
    }

    @Test("run: a business error classified as success and a cancellation do not open the circuit")
    func runClassification() async throws {
        let breaker = breaker(threshold: 1)
        let classify: (any Error) -> CircuitBreaker.Outcome = { error in
            error is CardDeclined ? .success : CircuitBreaker.defaultClassification(error)
        }
        await #expect(throws: CardDeclined.self) {
            try await breaker.run(classifyError: classify) { () async throws -> Int in throw CardDeclined() }
        }
        await #expect(throws: CancellationError.self) {
            try await breaker.run { () async throws -> Int in throw CancellationError() }
        }
        #expect(breaker.state == .closed)
    }

    @Test("runBlocking behaves like run")
    func runBlocking() throws {
        let breaker = breaker(threshold: 1)
        #expect(try breaker.runBlocking { "fine" } == "fine")
        #expect(throws: GatewayDown.self) { try breaker.runBlocking { () throws -> Int in throw GatewayDown() } }
        #expect(throws: CircuitBreakerError.self) { try breaker.runBlocking { 1 } }
        clock.advance(by: .seconds(30))
        #expect(try breaker.runBlocking { 2 } == 2)
        #expect(breaker.state == .closed)
    }

    @Test("under concurrent callers a half-open breaker admits no more than its trials")
    func concurrentHalfOpen() async throws {
        let breaker = breaker(threshold: 1, successes: 3)
        try fail(breaker)
        clock.advance(by: .seconds(30))
        let admitted = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<200 {
                group.addTask { (try? breaker.acquire()) != nil }
            }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(admitted == 3)
    }

    @Test("the error says how long to wait")
    func errorDescription() {
        #expect(CircuitBreakerError.open(retryAfter: .seconds(5)).description.contains("5"))
    }
}
