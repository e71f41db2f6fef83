import Dispatch
import Synchronization

/// Runs `call` and blocks this thread until it returns: for synchronous tests that need one
/// asynchronous call, such as an HTTP request to the payment gateway.
///
/// The call runs on a thread of its own (a ``DedicatedThreadExecutor`` as its task's executor
/// preference), never on the cooperative pool: a synchronous test may itself hold one of the
/// pool's two threads, and several waiting at once for work queued on the pool would deadlock it.
func blockingWait<T: Sendable>(_ call: @escaping @Sendable () async throws -> T) throws -> T {
    let executor = DedicatedThreadExecutor()
    defer { executor.shutdown() }
    let result = Mutex<Result<T, any Error>?>(nil)
    let done = DispatchSemaphore(value: 0)
    Task(executorPreference: executor) {
        let outcome: Result<T, any Error>
        do {
            outcome = .success(try await call())
        } catch {
            outcome = .failure(error)
        }
        result.withLock { $0 = outcome }
        done.signal()
    }
    done.wait()
    return try result.withLock { $0! }.get()
}
