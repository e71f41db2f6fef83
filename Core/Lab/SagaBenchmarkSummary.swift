/// The figures `commerce-lab bench` reports, computed from its runs: per kind of run the medians over
/// repetitions, and the fleet's figures as ratios to each reference, taken within each repetition
/// (its runs shared the machine's load) and then median'd.
///
/// Runs with a problem are left out: a run whose audit failed is an error, not a figure.
public struct SagaBenchmarkSummary: Encodable {
    /// Medians of one kind of run over repetitions.
    public struct RunSummary: Encodable {
        public var runs: Int
        public var ordersPerSecond: Spread
        public var sagaMessagesPerSecond: Spread?
        /// The paced runs' rate (median).
        public var targetRate: Double?
        public var p50Ms: Double?
        public var p90Ms: Double?
        public var p99Ms: Double?
        public var maxMs: Double?
        /// CPU seconds per party, medians.
        public var cpuSeconds: [String: Double]
        /// Mean batch size per worker, medians.
        public var meanBatchSize: [String: Double]
    }

    /// A median with the lowest and highest value it was taken from.
    public struct Spread: Encodable {
        public var median: Double
        public var minimum: Double
        public var maximum: Double

        public init?(_ values: [Double]) {
            guard !values.isEmpty else { return nil }
            median = SagaBenchmarkSummary.median(values)
            minimum = values.min()!
            maximum = values.max()!
        }
    }

    /// The fleet against a reference (or a target on its own), per repetition and median'd.
    public struct Ratio: Encodable {
        public var name: String
        public var perRepetition: [Double]
        public var median: Double
        /// The target, as text (`≥ 0.5`), and whether the median meets it.
        public var target: String?
        public var met: Bool?
    }

    public var fleetFlood: RunSummary?
    public var fleetRate: RunSummary?
    public var ceilingFlood: RunSummary?
    public var ceilingRate: RunSummary?
    public var celery: RunSummary?
    public var rawPublishMessagesPerSecond: Spread?
    public var rawConsumeMessagesPerSecond: Spread?
    public var ratios: [Ratio]

    public init(fleet: [FleetRun], references: [ReferenceRun]) {
        let good = fleet.filter(\.problems.isEmpty)
        let goodReferences = references.filter(\.ok)
        func summary(_ runs: [FleetRun]) -> RunSummary? {
            guard let rates = Spread(runs.map(\.ordersPerSecond)) else { return nil }
            var cpu: [String: Double] = [:]
            for party in Set(runs.flatMap(\.cpuSeconds.keys)) {
                cpu[party] = Self.median(runs.compactMap { $0.cpuSeconds[party] })
            }
            var batches: [String: Double] = [:]
            for worker in Set(runs.flatMap(\.meanBatchSize.keys)) {
                batches[worker] = Self.median(runs.compactMap { $0.meanBatchSize[worker] })
            }
            let latencies = runs.compactMap(\.latency)
            func latency(_ figure: (LatencyFigures) -> Double) -> Double? {
                latencies.isEmpty ? nil : Self.median(latencies.map(figure))
            }
            let targets = runs.compactMap(\.targetRate)
            return RunSummary(
                runs: runs.count, ordersPerSecond: rates,
                sagaMessagesPerSecond: Spread(runs.map(\.sagaMessagesPerSecond)),
                targetRate: targets.isEmpty ? nil : Self.median(targets), p50Ms: latency(\.p50Ms),
                p90Ms: latency(\.p90Ms), p99Ms: latency(\.p99Ms), maxMs: latency(\.maxMs), cpuSeconds: cpu,
                meanBatchSize: batches)
        }
        func summary(_ runs: [ReferenceRun]) -> RunSummary? {
            guard let rates = Spread(runs.compactMap { $0.number("orders_per_s") }) else { return nil }
            func figure(_ key: String) -> Double? {
                let values = runs.compactMap { $0.number(key) }
                return values.isEmpty ? nil : Self.median(values)
            }
            var cpu: [String: Double] = [:]
            for party in Set(runs.flatMap(\.cpuSeconds.keys)) {
                cpu[party] = Self.median(runs.compactMap { $0.cpuSeconds[party] })
            }
            var batches: [String: Double] = [:]
            for run in runs {
                guard case .object(let fields)? = run.result, case .object(let mean)? = fields["mean_batch"] else {
                    continue
                }
                for (worker, value) in mean {
                    if case .number(let number) = value { batches[worker, default: 0] += number }
                }
            }
            batches = batches.mapValues { $0 / Double(runs.count) }
            let rate = figure("rate")
            return RunSummary(
                runs: runs.count, ordersPerSecond: rates,
                sagaMessagesPerSecond: Spread(runs.compactMap { $0.number("saga_msgs_per_s") }),
                targetRate: rate == 0 ? nil : rate, p50Ms: figure("p50_ms"), p90Ms: figure("p90_ms"),
                p99Ms: figure("p99_ms"), maxMs: figure("max_ms"), cpuSeconds: cpu, meanBatchSize: batches)
        }
        let floods = good.filter { $0.mode == "flood" }
        let paced = good.filter { $0.mode == "rate" }
        fleetFlood = summary(floods)
        fleetRate = summary(paced)
        let reference = { (name: String) in goodReferences.filter { $0.name == name } }
        ceilingFlood = summary(reference("ceiling"))
        ceilingRate = summary(reference("ceiling-rate"))
        celery = summary(reference("celery"))
        rawPublishMessagesPerSecond = Spread(reference("raw").compactMap { $0.number("publish_msgs_per_s") })
        rawConsumeMessagesPerSecond = Spread(reference("raw").compactMap { $0.number("consume_msgs_per_s") })

        var ratios: [Ratio] = []
        let repetitions = Set(good.map(\.repetition)).sorted()
        func ratio(
            _ name: String, target: String? = nil, meets: ((Double) -> Bool)? = nil,
            _ value: (Int) -> Double?
        ) {
            let values = repetitions.compactMap(value)
            guard !values.isEmpty else { return }
            let median = Self.median(values)
            ratios.append(
                Ratio(name: name, perRepetition: values, median: median, target: target, met: meets.map { $0(median) }))
        }
        func flood(_ repetition: Int) -> FleetRun? { floods.first { $0.repetition == repetition } }
        func rate(_ repetition: Int) -> FleetRun? { paced.first { $0.repetition == repetition } }
        func ref(_ name: String, _ repetition: Int, _ key: String) -> Double? {
            goodReferences.first { $0.name == name && $0.repetition == repetition }?.number(key)
        }
        ratio("fleet ÷ C ceiling, orders/s (flood)", target: "≥ 0.5", meets: { $0 >= 0.5 }) { repetition in
            guard let fleet = flood(repetition), let ceiling = ref("ceiling", repetition, "orders_per_s"), ceiling > 0
            else {
                return nil
            }
            return fleet.ordersPerSecond / ceiling
        }
        ratio("fleet ÷ Celery peer, orders/s (flood)", target: "≥ 8", meets: { $0 >= 8 }) { repetition in
            guard let fleet = flood(repetition), let celery = ref("celery", repetition, "orders_per_s"), celery > 0
            else {
                return nil
            }
            return fleet.ordersPerSecond / celery
        }
        ratio("fleet saga msgs/s ÷ raw broker publish msgs/s") { repetition in
            guard let fleet = flood(repetition), let raw = ref("raw", repetition, "publish_msgs_per_s"), raw > 0 else {
                return nil
            }
            return fleet.sagaMessagesPerSecond / raw
        }
        ratio("fleet ÷ C ceiling, machine CPU-seconds per order (flood)") { repetition in
            guard let fleet = flood(repetition), let busy = fleet.machineBusySeconds, fleet.orders > 0,
                let ceilingBusy = ref("ceiling", repetition, "machine_busy_cpu_s"),
                let ceilingOrders = ref("ceiling", repetition, "n"), ceilingBusy > 0, ceilingOrders > 0
            else { return nil }
            return (busy / Double(fleet.orders)) / (ceilingBusy / ceilingOrders)
        }
        ratio("fleet p99 (ms) at its fixed rate", target: "< 100 ms", meets: { $0 < 100 }) { repetition in
            rate(repetition)?.latency?.p99Ms
        }
        ratio("fleet ÷ C ceiling, p99 at each one's fixed rate") { repetition in
            guard let fleet = rate(repetition)?.latency?.p99Ms, let ceiling = ref("ceiling-rate", repetition, "p99_ms"),
                ceiling > 0
            else { return nil }
            return fleet / ceiling
        }
        self.ratios = ratios
    }

    public static func median(_ values: [Double]) -> Double {
        BenchmarkSummary.median(values)
    }
}
