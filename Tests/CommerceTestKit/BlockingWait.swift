import CommerceSupport

/// Runs `call` and blocks this thread until it returns: for synchronous tests that need one
/// asynchronous call, such as an HTTP request to the payment gateway.
///
/// The call runs on a thread of its own (a ``DedicatedThreadExecutor`` as its task's executor
/// preference), never on the cooperative pool: a synchronous test may itself hold one of the
/// pool's two threads, and several waiting at once for work queued on the pool would deadlock it.
public func blockingWait<T: Sendable>(_ call: @escaping @Sendable () async throws -> T) throws -> T {
    let executor = DedicatedThreadExecutor()
    defer { executor.shutdown() }
    return try runBlocking(on: executor, call)
}
