/// The figures `commerce-lab bench-runtime` reports, computed from its runs: per setup the median
/// throughput over repetitions, and ratios between setups taken within each repetition (runs of
/// one repetition ran back to back, so they shared the machine's load) and then median'd.
///
/// Runs with a correctness problem are left out: their timing means nothing.
public struct BenchmarkSummary: Encodable {
    public struct SetupSummary: Encodable {
        public var setup: BenchmarkRun.Setup
        public var runs: Int
        public var medianMessagesPerSecond: Double
        public var minimumMessagesPerSecond: Double
        public var maximumMessagesPerSecond: Double
        /// Median of ``BenchmarkRun/publishMessagesPerSecond``.
        public var medianPublishMessagesPerSecond: Double
        /// Total `_sum` over total `_count` of the batch-size histograms of every run.
        public var meanBatchSize: Double?
        /// Transactions and messages per batch-size range, over every run.
        public var batchSizes: [BenchmarkRun.BatchSizeRange]
        /// The highest `seq_scan` seen in one run, per table, index builds left out
        /// (``BenchmarkRun/queryScans``).
        public var maximumQueryScans: [String: Int]
        /// Median over repetitions of ``BenchmarkRun/cpuSecondsPerMessage``, per party.
        public var medianCPUSecondsPerMessage: [String: Double]
        /// Mean over runs of ``BenchmarkRun/meanRoundTripsPerBatch``.
        public var meanRoundTripsPerBatch: Double?
    }

    /// `numerator` throughput ÷ `denominator` throughput.
    public struct Ratio: Encodable {
        /// `consume`: the worker's messages/s; `publish`: the benchmark's publishing rate.
        public var measure: String
        public var name: String
        public var numerator: BenchmarkRun.Setup
        public var denominator: BenchmarkRun.Setup
        /// One value per repetition (for `publish`: per repetition and batch maximum).
        public var perRepetition: [Double]
        public var median: Double
    }

    public var setups: [SetupSummary]
    public var ratios: [Ratio]

    public init(runs: [BenchmarkRun], setups order: [BenchmarkRun.Setup]) {
        let good = runs.filter(\.problems.isEmpty)
        setups = order.compactMap { setup in
            let mine = good.filter { $0.setup == setup }
            guard !mine.isEmpty else { return nil }
            let rates = mine.map(\.messagesPerSecond)
            let histograms = mine.compactMap(\.batchHistogram)
            let count = histograms.map(\.count).reduce(0, +)
            var ranges = mine[0].batchSizes
            for run in mine.dropFirst() {
                for index in ranges.indices {
                    ranges[index].batches += run.batchSizes[index].batches
                    ranges[index].messages += run.batchSizes[index].messages
                }
            }
            var scans: [String: Int] = [:]
            for run in mine { scans.merge(run.queryScans, uniquingKeysWith: max) }
            var cpu: [String: Double] = [:]
            for party in Set(mine.flatMap(\.cpuSecondsPerMessage.keys)) {
                cpu[party] = Self.median(mine.compactMap { $0.cpuSecondsPerMessage[party] })
            }
            let trips = mine.compactMap(\.meanRoundTripsPerBatch)
            return SetupSummary(
                setup: setup, runs: mine.count, medianMessagesPerSecond: Self.median(rates),
                minimumMessagesPerSecond: rates.min()!, maximumMessagesPerSecond: rates.max()!,
                medianPublishMessagesPerSecond: Self.median(mine.map(\.publishMessagesPerSecond)),
                meanBatchSize: count > 0 ? histograms.map(\.sum).reduce(0, +) / Double(count) : nil,
                batchSizes: ranges, maximumQueryScans: scans, medianCPUSecondsPerMessage: cpu,
                meanRoundTripsPerBatch: trips.isEmpty ? nil : trips.reduce(0, +) / Double(trips.count))
        }

        var pairs: [(String, BenchmarkRun.Setup, BenchmarkRun.Setup)] = []
        // Builds compared side by side: each later build ÷ the first, per queue type and batch.
        let builds = order.map(\.worker).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        for setup in order where builds.count > 1 && setup.worker != builds[0] {
            var baseline = setup
            baseline.worker = builds[0]
            pairs.append(
                ("\(setup.worker) ÷ \(builds[0]), \(setup.queueType.rawValue)/\(setup.batchSize)", setup, baseline))
        }
        for setup in order where setup.batchSize > 1 {
            var single = setup
            single.batchSize = 1
            if order.contains(single) {
                let build = setup.worker.isEmpty ? "" : "\(setup.worker) "
                pairs.append(("\(build)\(setup.queueType.rawValue): batch \(setup.batchSize) ÷ batch 1", setup, single))
            }
        }
        var queueTypePairs: [(String, BenchmarkRun.Setup, BenchmarkRun.Setup)] = []
        for setup in order where setup.queueType == .quorum {
            var classic = setup
            classic.queueType = .classic
            if order.contains(classic) {
                let build = setup.worker.isEmpty ? "" : "\(setup.worker) "
                queueTypePairs.append(("\(build)batch \(setup.batchSize): quorum ÷ classic", setup, classic))
            }
        }
        pairs += queueTypePairs
        let repetitions = Set(good.map(\.repetition)).sorted()
        func ratio(
            _ measure: String, _ pair: (String, BenchmarkRun.Setup, BenchmarkRun.Setup),
            _ rate: (BenchmarkRun) -> Double
        ) -> Ratio? {
            let (name, numerator, denominator) = pair
            let values = repetitions.compactMap { repetition -> Double? in
                let run = { (setup: BenchmarkRun.Setup) in
                    good.first { $0.repetition == repetition && $0.setup == setup }
                }
                guard let top = run(numerator), let bottom = run(denominator) else { return nil }
                return rate(top) / rate(bottom)
            }
            guard !values.isEmpty else { return nil }
            return Ratio(
                measure: measure, name: name, numerator: numerator, denominator: denominator, perRepetition: values,
                median: Self.median(values))
        }
        ratios = pairs.compactMap { ratio("consume", $0, \.messagesPerSecond) }
        // Publishing does not depend on the worker's batch maximum: every quorum ÷ classic pair
        // of a repetition is one more sample of the same ratio.
        let publishRatios = queueTypePairs.compactMap { ratio("publish", $0, \.publishMessagesPerSecond) }
        if let first = publishRatios.first {
            let values = publishRatios.flatMap(\.perRepetition)
            ratios.append(
                Ratio(
                    measure: "publish", name: "quorum ÷ classic", numerator: first.numerator,
                    denominator: first.denominator, perRepetition: values, median: Self.median(values)))
        }
    }

    public static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
