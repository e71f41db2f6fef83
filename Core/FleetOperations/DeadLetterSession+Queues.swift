import WorkerRuntime

extension DeadLetterSession {
    /// The dead-letter queue (`<queue>.dlq`) of each of `queues` (worker queues), in order and
    /// once each, or of the fleet's queues when there are none.
    public static func deadLetterQueues(of queues: [String]) -> [String] {
        var result: [String] = []
        for queue in queues.isEmpty ? FleetCatalog.workers.map(\.queue) : queues {
            let name = Topology(queue: queue, bindings: []).deadLetterQueue
            if !result.contains(name) { result.append(name) }
        }
        return result
    }
}
