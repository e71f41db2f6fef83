import Dispatch
import Synchronization

/// Runs `operation` on Swift's cooperative pool (or on `executor`, when given) and blocks the
/// calling thread until it finishes.
///
/// For code on a dedicated thread (a worker's consumer thread, where database connections are
/// confined) that must await an asynchronous call, such as an HTTP request. Never call it from
/// the cooperative pool itself without an `executor` of its own: a blocked pool thread can starve
/// the task it waits for.
public func runBlocking<T: Sendable>(
    on executor: (any TaskExecutor)? = nil, _ operation: @escaping @Sendable () async throws -> T
) throws -> T {
    let result = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task(executorPreference: executor) {
        let outcome: Result<T, any Error>
        do {
            outcome = .success(try await operation())
        } catch {
            outcome = .failure(error)
        }
        result.withLock { $0 = outcome }
        done.signal()
    }
    done.wait()
    return try result.withLock { $0! }.get()
}
