import Foundation

/// Runs a test's blocking body (waiting on processes, polling servers) on a thread of its own
/// instead of one of the cooperative pool's threads. A synchronous test holds a pool thread for
/// as long as it runs, and the pool has two on the 2-core machine: long integration tests
/// starve the async tests of the same run (`RetryTests`' cancellation test waits for a pool
/// thread). The body still runs in the test's task, so `#expect` and `Issue.record` are
/// attributed to the test as usual.
public func offThePool<T>(_ body: () throws -> T) async throws -> T {
    let executor = DedicatedThreadExecutor()
    defer { executor.shutdown() }
    return try await withTaskExecutorPreference(executor) { try body() }
}

/// A task executor with one thread of its own, running jobs in order until ``shutdown()``.
public final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` and `stopped` are guarded by `condition`.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopped = false

    public init() {
        let thread = Thread { [self] in run() }
        thread.name = "test-off-the-pool"
        thread.stackSize = 8 << 20
        thread.start()
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    /// Lets the thread end once it has no job left.
    public func shutdown() {
        condition.lock()
        stopped = true
        condition.signal()
        condition.unlock()
    }

    private func run() {
        while true {
            condition.lock()
            while jobs.isEmpty && !stopped { condition.wait() }
            guard !jobs.isEmpty else {
                condition.unlock()
                return
            }
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
