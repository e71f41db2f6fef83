import WorkerRuntime

/// What one run of `commerce-lab bench-runtime` measured: a burst of messages already waiting in a
/// fresh queue, drained by one probe worker with one queue type and one batch maximum.
public struct BenchmarkRun: Encodable {
    /// The settings the benchmark compares: queue type and batch maximum (`QUEUE_TYPE`,
    /// `CONSUMER_BATCH_SIZE`), written `quorum/64` on the command line, and which probe-worker
    /// build ran (the label of `--probe-worker label=path`; empty for the only one).
    public struct Setup: Hashable, Encodable, CustomStringConvertible, Sendable {
        public var queueType: Topology.QueueType
        public var batchSize: Int
        public var worker = ""

        public static let all = [
            Setup(queueType: .quorum, batchSize: 64), Setup(queueType: .quorum, batchSize: 1),
            Setup(queueType: .classic, batchSize: 64), Setup(queueType: .classic, batchSize: 1),
        ]

        public init(queueType: Topology.QueueType, batchSize: Int) {
            self.queueType = queueType
            self.batchSize = batchSize
        }

        /// Parses `quorum/64` or `classic/1`; `nil` for anything else.
        public init?(argument: some StringProtocol) {
            let parts = argument.split(separator: "/")
            guard parts.count == 2, let type = Topology.QueueType(rawValue: String(parts[0])),
                let size = Int(parts[1]), size > 0
            else { return nil }
            self.init(queueType: type, batchSize: size)
        }

        public var description: String { (worker.isEmpty ? "" : "\(worker):") + "\(queueType.rawValue)/\(batchSize)" }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(queueType.rawValue, forKey: .queueType)
            try container.encode(batchSize, forKey: .batchSize)
            try container.encode(worker, forKey: .worker)
        }

        private enum CodingKeys: String, CodingKey {
            case queueType, batchSize, worker
        }
    }

    /// Batch sizes grouped as the worker's `commerce_batch_size` histogram buckets allow
    /// (5, 10, 25, 50, 100), with the default batch maximum of 64 as a boundary of its own.
    public struct BatchSizeRange: Encodable {
        public var label: String
        public var lowerBound: Int
        public var upperBound: Int?
        /// Transactions of a size in this range.
        public var batches: Int
        /// Messages handled in those transactions.
        public var messages: Int

        public static let bounds: [(Int, Int?)] = [(1, 1), (2, 5), (6, 10), (11, 25), (26, 50), (51, 64), (65, nil)]

        public static func label(_ lower: Int, _ upper: Int?) -> String {
            switch upper {
            case lower?: "\(lower)"
            case let upper?: "\(lower)–\(upper)"
            case nil: "\(lower)+"
            }
        }

        /// The ranges, each with its counts, from the size of every transaction.
        public static func ranges(batchSizes: [Int: Int]) -> [BatchSizeRange] {
            bounds.map { lower, upper in
                let sizes = batchSizes.filter { $0.key >= lower && $0.key <= (upper ?? .max) }
                return BatchSizeRange(
                    label: label(lower, upper), lowerBound: lower, upperBound: upper,
                    batches: sizes.values.reduce(0, +), messages: sizes.reduce(0) { $0 + $1.key * $1.value })
            }
        }
    }

    public var setup: Setup
    /// 1-based.
    public var repetition: Int
    public var messages: Int
    /// How fast the benchmark published the burst: persistent messages in windows of 500, each
    /// window waiting for its publisher confirms (the broker confirms once the queue has the
    /// message on disk). The part of the queue type's cost a producer sees.
    public var publishMessagesPerSecond: Double
    /// From the worker's `/health` turning 200 until every effect row was seen.
    public var seconds: Double
    public var messagesPerSecond: Double
    /// `commerce_batch_size` from the worker's `/metrics`: transactions per bucket, `_sum`, `_count`.
    public var batchHistogram: PrometheusHistogram?
    /// `_sum / _count` of ``batchHistogram``.
    public var meanBatchSize: Double?
    /// Exact sizes of the transactions, read from the effect rows (each row's `created_at` is its
    /// transaction's start time, shared by every row of one batch).
    public var batchSizes: [BatchSizeRange]
    /// `pg_stat_user_tables.seq_scan` per table after the worker stopped (a plan stuck on a
    /// sequential scan shows here; docs/architecture.md, "PostgreSQL store"). The benchmark's own
    /// queries never scan sequentially.
    public var sequentialScans: [String: Int]
    /// Indexes per table: each was built by one scan of its (empty) table at migration, and
    /// PostgreSQL counts those scans in `seq_scan` too.
    public var indexes: [String: Int]
    /// ``sequentialScans`` less the index builds: the sequential scans of queries.
    public var queryScans: [String: Int] {
        sequentialScans.reduce(into: [:]) { result, entry in result[entry.key] = entry.value - (indexes[entry.key] ?? 0)
        }
    }
    /// CPU seconds per message from `/proc` while the burst drained (from `/health` 200 to the
    /// last effect, and with `--events` the last emitted event): `worker` (the probe process),
    /// `rabbitmq` (`beam.smp`), `postgres` (every `postgres` process: backends, WAL writer …).
    public var cpuSecondsPerMessage: [String: Double]
    /// Mean of the worker's `commerce_batch_database_round_trips` (absent from builds without it).
    public var meanRoundTripsPerBatch: Double?
    /// Whether each message asked the probe to emit a `probe.done` event through the outbox.
    public var events: Bool
    public var workerExitStatus: Int32?
    public var effectRows: Int
    public var distinctMessageIDs: Int
    public var deadLetters: Int
    /// Correctness failures (lost or duplicated effects, a dead letter, a worker that did not exit
    /// 0); empty for a good run.
    public var problems: [String]
    /// Odd but not wrong (a metrics histogram that disagrees with the database).
    public var notes: [String]
}
