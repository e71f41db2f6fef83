/// What one measured run of the fleet in `commerce-lab bench` found: N orders placed through the
/// broker, each followed to its terminal event, then the audit.
public struct FleetRun: Encodable {
    /// One worker copy's figures from its `/metrics` at the end of the run.
    public struct WorkerFigures: Encodable {
        public var name: String
        public var handled: Int
        public var retried: Int
        public var deadLettered: Int
        /// `commerce_batch_size` `_sum / _count`.
        public var meanBatchSize: Double?
        public var batches: Int
        /// `commerce_batch_database_round_trips` mean.
        public var meanRoundTripsPerBatch: Double?
    }

    /// CPU of one thread during the timed interval (per-thread CPU from `/proc/<pid>/task`).
    public struct ThreadCPU: Encodable {
        /// The party (`order-worker`, `rabbitmq`, `postgres` …).
        public var party: String
        public var pid: Int32
        /// The thread's name, or for PostgreSQL the backend's title (`postgres: commerce bench_… idle`).
        public var thread: String
        public var cpuSeconds: Double
    }

    /// `flood` (as fast as the broker confirms) or `rate` (paced).
    public var mode: String
    public var repetition: Int
    public var orders: Int
    /// Orders per second asked for (`rate` only).
    public var targetRate: Double?
    /// How fast the orders went out: N ÷ (last publish − first publish).
    public var publishedPerSecond: Double
    /// From the first publish to the last terminal event.
    public var seconds: Double
    public var ordersPerSecond: Double
    /// Messages the workers handled (`commerce_messages_handled_total`, every copy) by the last
    /// terminal event, per second: 7 deliveries per confirmed order (order.place, order.placed,
    /// stock.reserved to the payment- and the order-worker, payment.succeeded, and order.confirmed
    /// to the stock- and the notification-worker).
    public var sagaMessagesPerSecond: Double
    public var handledMessages: Int
    /// Publish of `order.place` to the arrival of its terminal event.
    public var latency: LatencyFigures?
    /// Up to 2,000 orders, evenly spread: seconds from the first publish, milliseconds to the end.
    public var timeline: [[Double]]
    /// Orders by how they ended (`confirmed`, `cancelled:out_of_stock` …).
    public var outcomes: [String: Int]
    public var unfinished: Int
    /// Terminal events heard twice for one order (a republished event; not an error).
    public var repeatedEvents: Int
    /// Mean batch size per worker (all copies of it together).
    public var meanBatchSize: [String: Double]
    public var workers: [WorkerFigures]
    /// CPU seconds per party during the timed interval: each worker copy, `rabbitmq`, `postgres`,
    /// `mongodb`, `payment-gateway` (for `http`), `bench` (this command's own publisher and collector).
    public var cpuSeconds: [String: Double]
    /// CPU seconds the machine had in the interval (processors × seconds) and spent (from `/proc/stat`).
    public var cpuAvailableSeconds: Double
    public var machineBusySeconds: Double?
    /// The busiest threads of every party, highest first.
    public var threads: [ThreadCPU]
    public var auditClean: Bool
    public var auditViolations: [String]
    public var deadLetters: Int
    /// How each process ended after SIGTERM.
    public var exits: [String]
    /// Which MongoDB the notification-worker wrote to.
    public var mongo: String
    /// Correctness failures; a run with any is an error, not a figure.
    public var problems: [String]
}
