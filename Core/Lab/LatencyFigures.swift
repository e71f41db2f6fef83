import Histogram

/// The latency figures of one run, from an HdrHistogram of every order's milliseconds (three
/// significant digits, values recorded in microseconds), in the shape the references report
/// (`p50_ms` … `max_ms`), plus the percentile curve for the picture.
public struct LatencyFigures: Codable, Hashable {
    /// One point of the percentile curve: `percentile` % of the orders ended within `milliseconds`.
    public struct Point: Codable, Hashable {
        public var percentile: Double
        public var milliseconds: Double
    }

    public var count: Int
    public var p50Ms: Double
    public var p90Ms: Double
    public var p99Ms: Double
    public var p999Ms: Double
    public var maxMs: Double
    public var meanMs: Double
    /// From the histogram's percentile iteration (5 ticks per half distance), up to 100 %.
    public var curve: [Point]

    /// `nil` without any value.
    public init?(microseconds values: [UInt64]) {
        guard !values.isEmpty else { return nil }
        // Up to an hour; anything longer is clamped rather than dropped.
        var histogram = Histogram<UInt64>(highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
        for value in values { _ = histogram.record(min(max(value, 1), 3_600_000_000)) }
        func ms(_ value: UInt64) -> Double { Double(value) / 1000 }
        count = values.count
        p50Ms = ms(histogram.valueAtPercentile(50))
        p90Ms = ms(histogram.valueAtPercentile(90))
        p99Ms = ms(histogram.valueAtPercentile(99))
        p999Ms = ms(histogram.valueAtPercentile(99.9))
        maxMs = ms(histogram.max)
        meanMs = histogram.mean / 1000
        var points: [Point] = []
        for step in histogram.percentiles(ticksPerHalfDistance: 5) {
            points.append(Point(percentile: step.percentileLevelIteratedTo, milliseconds: ms(step.value)))
        }
        curve = points
    }
}
