import CommerceSupport
import Foundation
import Synchronization

/// Runs a handler's phase outside the transaction (``MessageHandler/prepare(_:envelope:attempts:)``)
/// for a batch: concurrently, at most `concurrency` at once, on Swift's cooperative pool, while
/// the consumer's thread waits. The calls are meant to be asynchronous I/O (an HTTP request), so
/// a batch of 64 slow calls costs about one call's time, not 64.
enum Preparation {
    static func run<Input: Sendable, Output: Sendable>(
        _ inputs: [Input], concurrency: Int, metrics: WorkerMetrics,
        _ operation: @escaping @Sendable (Input) async throws -> Output
    ) -> [Result<Output, any Error>] {
        guard !inputs.isEmpty else { return [] }
        let results = Mutex<[Result<Output, any Error>]>([])
        let done = DispatchSemaphore(value: 0)
        let count = inputs.count
        let width = max(concurrency, 1)
        Task {
            var collected = [Result<Output, any Error>?](repeating: nil, count: count)
            await withTaskGroup(of: (Int, Result<Output, any Error>).self) { group in
                @Sendable func call(_ index: Int) async -> (Int, Result<Output, any Error>) {
                    let started = ContinuousClock.now
                    defer {
                        metrics.prepareDuration.recordNanoseconds(Int64((ContinuousClock.now - started).seconds * 1e9))
                    }
                    do {
                        return (index, .success(try await operation(inputs[index])))
                    } catch {
                        return (index, .failure(error))
                    }
                }
                var next = 0
                while next < min(count, width) {
                    let index = next
                    group.addTask { await call(index) }
                    next += 1
                }
                for await (index, result) in group {
                    collected[index] = result
                    if next < count {
                        let index = next
                        group.addTask { await call(index) }
                        next += 1
                    }
                }
            }
            results.withLock { $0 = collected.map { $0! } }
            done.signal()
        }
        done.wait()
        return results.withLock { $0 }
    }
}
