/// What one measured run of the fleet in `commerce-lab bench` found: N orders placed through the
/// broker, each followed to its terminal event, then the audit.
struct FleetRun: Encodable {
    /// One worker copy's figures from its `/metrics` at the end of the run.
    struct WorkerFigures: Encodable {
        var name: String
        var handled: Int
        var retried: Int
        var deadLettered: Int
        /// `commerce_batch_size` `_sum / _count`.
        var meanBatchSize: Double?
        var batches: Int
        /// `commerce_batch_database_round_trips` mean.
        var meanRoundTripsPerBatch: Double?
    }

    /// CPU of one thread during the timed interval (per-thread CPU from `/proc/<pid>/task`).
    struct ThreadCPU: Encodable {
        /// The party (`order-worker`, `rabbitmq`, `postgres` …).
        var party: String
        var pid: Int32
        /// The thread's name, or for PostgreSQL the backend's title (`postgres: commerce bench_… idle`).
        var thread: String
        var cpuSeconds: Double
    }

    /// `flood` (as fast as the broker confirms) or `rate` (paced).
    var mode: String
    var repetition: Int
    var orders: Int
    /// Orders per second asked for (`rate` only).
    var targetRate: Double?
    /// How fast the orders went out: N ÷ (last publish − first publish).
    var publishedPerSecond: Double
    /// From the first publish to the last terminal event.
    var seconds: Double
    var ordersPerSecond: Double
    /// Messages the workers handled (`commerce_messages_handled_total`, every copy) by the last
    /// terminal event, per second: 7 deliveries per confirmed order (order.place, order.placed,
    /// stock.reserved to the payment- and the order-worker, payment.succeeded, and order.confirmed
    /// to the stock- and the notification-worker).
    var sagaMessagesPerSecond: Double
    var handledMessages: Int
    /// Publish of `order.place` to the arrival of its terminal event.
    var latency: LatencyFigures?
    /// Up to 2,000 orders, evenly spread: seconds from the first publish, milliseconds to the end.
    var timeline: [[Double]]
    /// Orders by how they ended (`confirmed`, `cancelled:out_of_stock` …).
    var outcomes: [String: Int]
    var unfinished: Int
    /// Terminal events heard twice for one order (a republished event; not an error).
    var repeatedEvents: Int
    /// Mean batch size per worker (all copies of it together).
    var meanBatchSize: [String: Double]
    var workers: [WorkerFigures]
    /// CPU seconds per party during the timed interval: each worker copy, `rabbitmq`, `postgres`,
    /// `mongodb`, `payment-gateway` (for `http`), `bench` (this command's own publisher and collector).
    var cpuSeconds: [String: Double]
    /// CPU seconds the machine had in the interval (processors × seconds) and spent (from `/proc/stat`).
    var cpuAvailableSeconds: Double
    var machineBusySeconds: Double?
    /// The busiest threads of every party, highest first.
    var threads: [ThreadCPU]
    var auditClean: Bool
    var auditViolations: [String]
    var deadLetters: Int
    /// How each process ended after SIGTERM.
    var exits: [String]
    /// Which MongoDB the notification-worker wrote to.
    var mongo: String
    /// Correctness failures; a run with any is an error, not a figure.
    var problems: [String]
}
