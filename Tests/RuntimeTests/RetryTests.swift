import Resilience
import Synchronization
import Testing

private struct Transient: Error, Equatable { var attempt: Int }
private struct Permanent: Error {}

/// Counts calls and records the waits the retry helper asked for, instead of waiting. Not
/// Sendable: the helpers run their closures in the caller's isolation.
private final class Recorder {
    var calls = 0
    var sleeps: [Duration] = []
    var retries: [(retry: Int, delay: Duration)] = []
}

@Suite("withRetry and withBlockingRetry")
struct RetryTests {
    // No jitter, so the waits are exact.
    private let policy = RetryPolicy(
        maximumAttempts: 4,
        backoff: Backoff(initialDelay: .milliseconds(100), multiplier: 2, maximumDelay: .seconds(10), jitter: .none))

    @Test("a first success runs once and never waits")
    func firstSuccess() async throws {
        let recorder = Recorder()
        let value = try await withRetry(policy: policy, sleep: { recorder.sleeps.append($0) }) {
            recorder.calls += 1
            return "ok"
        }
        #expect(value == "ok")
        #expect(recorder.calls == 1)
        #expect(recorder.sleeps.isEmpty)
    }

    @Test("two transient failures then success: three calls, waits of 100 and 200 ms, onRetry told")
    func transientThenSuccess() async throws {
        let recorder = Recorder()
        let value = try await withRetry(
            policy: policy,
            onRetry: { error, retry, delay in
                #expect(error as? Transient == Transient(attempt: retry))
                recorder.retries.append((retry, delay))
            },
            sleep: { recorder.sleeps.append($0) }
        ) {
            recorder.calls += 1
            if recorder.calls < 3 { throw Transient(attempt: recorder.calls) }
            return recorder.calls
        }
        #expect(value == 3)
        #expect(recorder.sleeps == [.milliseconds(100), .milliseconds(200)])
        #expect(recorder.retries.map(\.retry) == [1, 2])
        #expect(recorder.retries.map(\.delay) == recorder.sleeps)
    }

    @Test("after maximumAttempts the last error is thrown unchanged")
    func exhausted() async throws {
        let recorder = Recorder()
        let error = await #expect(throws: Transient.self) {
            try await withRetry(policy: policy, sleep: { recorder.sleeps.append($0) }) { () async throws -> Int in
                recorder.calls += 1
                throw Transient(attempt: recorder.calls)
            }
        }
        #expect(error == Transient(attempt: 4))
        #expect(recorder.calls == 4)
        #expect(recorder.sleeps == [.milliseconds(100), .milliseconds(200), .milliseconds(400)])
    }

    @Test("a non-retryable error is thrown at once")
    func nonRetryable() async throws {
        let recorder = Recorder()
        await #expect(throws: Permanent.self) {
            try await withRetry(
                policy: policy, isRetryable: { $0 is Transient }, sleep: { recorder.sleeps.append($0) }
            ) { () async throws -> Int in
                recorder.calls += 1
                throw Permanent()
            }
        }
        #expect(recorder.calls == 1)
        #expect(recorder.sleeps.isEmpty)
    }

    @Test("CancellationError is never retried, even when everything is retryable")
    func cancellationNotRetried() async throws {
        let recorder = Recorder()
        await #expect(throws: CancellationError.self) {
            try await withRetry(policy: policy, sleep: { recorder.sleeps.append($0) }) { () async throws -> Int in
                recorder.calls += 1
                throw CancellationError()
            }
        }
        #expect(recorder.calls == 1)
    }

    @Test("a wait that throws ends the retries with its error")
    func sleepThrows() async throws {
        let recorder = Recorder()
        await #expect(throws: CancellationError.self) {
            try await withRetry(policy: policy, sleep: { _ in throw CancellationError() }) { () async throws -> Int in
                recorder.calls += 1
                throw Transient(attempt: recorder.calls)
            }
        }
        #expect(recorder.calls == 1)
    }

    @Test("cancelling the task during a real backoff wait ends it promptly")
    func taskCancellation() async throws {
        let slow = RetryPolicy(maximumAttempts: 10, backoff: Backoff(initialDelay: .seconds(60), jitter: .none))
        let (firstAttempt, signal) = AsyncStream.makeStream(of: Void.self)
        let task = Task {
            try await withRetry(policy: slow) { () async throws -> Int in
                signal.yield()
                throw Transient(attempt: 1)
            }
        }
        // Wait for the first attempt to have failed, then cancel the 60 s wait.
        for await _ in firstAttempt { break }
        let waitBegan = ContinuousClock.now
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        // Ending before the 60 s wait would have ended proves the cancellation ended it. Counted from
        // the first attempt, not from the test's start: the integration tests of the same run can
        // block the 2-thread cooperative pool for a long time before the task even starts.
        #expect(ContinuousClock.now - waitBegan < .seconds(59))
    }

    @Test("maximumAttempts 1 means no retry")
    func singleAttempt() async throws {
        let recorder = Recorder()
        await #expect(throws: Transient.self) {
            try await withRetry(
                policy: RetryPolicy(maximumAttempts: 1, backoff: policy.backoff),
                sleep: { recorder.sleeps.append($0) }
            ) { () async throws -> Int in
                recorder.calls += 1
                throw Transient(attempt: 1)
            }
        }
        #expect(recorder.calls == 1)
        #expect(recorder.sleeps.isEmpty)
    }

    @Test(
        "the blocking variant follows the same rules",
        arguments: [
            // (failures before success, retryable?, expected calls, expected waits in ms, succeeds)
            (0, true, 1, [Int64](), true),
            (2, true, 3, [100, 200], true),
            (9, true, 4, [100, 200, 400], false),
            (9, false, 1, [], false),
        ])
    func blocking(failures: Int, retryable: Bool, expectedCalls: Int, expectedWaits: [Int64], succeeds: Bool) {
        let recorder = Recorder()
        let result = Result {
            try withBlockingRetry(
                policy: policy, isRetryable: { _ in retryable }, sleep: { recorder.sleeps.append($0) }
            ) { () throws -> String in
                recorder.calls += 1
                if recorder.calls <= failures { throw Transient(attempt: recorder.calls) }
                return "done"
            }
        }
        #expect((try? result.get()) == (succeeds ? "done" : nil))
        #expect(recorder.calls == expectedCalls)
        #expect(recorder.sleeps == expectedWaits.map { .milliseconds($0) })
    }

    @Test("the blocking variant's default sleep really waits about the delay")
    func blockingDefaultSleep() throws {
        let quick = RetryPolicy(maximumAttempts: 2, backoff: Backoff(initialDelay: .milliseconds(20), jitter: .none))
        let calls = Mutex(0)
        let started = ContinuousClock.now
        let value = try withBlockingRetry(policy: quick) { () throws -> Int in
            let call = calls.withLock { calls in
                calls += 1
                return calls
            }
            if call == 1 { throw Transient(attempt: 1) }
            return call
        }
        #expect(value == 2)
        #expect(ContinuousClock.now - started >= .milliseconds(20))
    }
}
