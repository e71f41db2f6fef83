import CommerceSupport
import Foundation

/// Runs a handler's phase outside the transaction (``MessageHandler/prepare(_:envelope:attempts:)``)
/// for a batch: concurrently, at most `concurrency` at once, on Swift's cooperative pool, while
/// the consumer's thread waits. The calls are meant to be asynchronous I/O (an HTTP request), so
/// a batch of 64 slow calls costs about one call's time, not 64.
enum Preparation {
    /// Runs `operation` for every input and returns the results in the inputs' order. Inputs with
    /// the same `orderedBy` key (one saga's messages) run one after another in their order; groups
    /// run concurrently, at most `concurrency` at once.
    static func run<Input: Sendable, Output: Sendable>(
        _ inputs: [Input], concurrency: Int, metrics: WorkerMetrics?, orderedBy key: (Input) -> String,
        _ operation: @escaping @Sendable (Input) async throws -> Output
    ) -> [Result<Output, any Error>] {
        guard !inputs.isEmpty else { return [] }
        var groupOf: [String: Int] = [:]
        var groups: [[Int]] = []
        for (index, input) in inputs.enumerated() {
            let name = key(input)
            if let group = groupOf[name] {
                groups[group].append(index)
            } else {
                groupOf[name] = groups.count
                groups.append([index])
            }
        }
        let width = max(concurrency, 1)
        let groupList = groups
        // The consumer's own thread waits here while the calls run on Swift's pool.
        let collected = try? runBlocking { () async -> [Result<Output, any Error>] in
            var collected = [Result<Output, any Error>?](repeating: nil, count: inputs.count)
            await withTaskGroup(of: [(Int, Result<Output, any Error>)].self) { group in
                @Sendable func call(_ members: [Int]) async -> [(Int, Result<Output, any Error>)] {
                    var outcomes: [(Int, Result<Output, any Error>)] = []
                    for index in members {
                        let started = ContinuousClock.now
                        do {
                            outcomes.append((index, .success(try await operation(inputs[index]))))
                        } catch {
                            outcomes.append((index, .failure(error)))
                        }
                        metrics?.prepareDuration.recordNanoseconds(Int64((ContinuousClock.now - started).seconds * 1e9))
                    }
                    return outcomes
                }
                var next = 0
                while next < min(groupList.count, width) {
                    let members = groupList[next]
                    group.addTask { await call(members) }
                    next += 1
                }
                for await outcomes in group {
                    for (index, result) in outcomes { collected[index] = result }
                    if next < groupList.count {
                        let members = groupList[next]
                        group.addTask { await call(members) }
                        next += 1
                    }
                }
            }
            return collected.map { $0! }
        }
        // runBlocking rethrows what the operation throws, and this one throws nothing.
        return collected!
    }
}
