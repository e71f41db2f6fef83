/// One histogram read from a Prometheus text exposition (`/metrics`): its cumulative buckets,
/// `_sum` and `_count`, summed over every label set it appears with.
public struct PrometheusHistogram: Encodable {
    /// A cumulative bucket: observations less than or equal to `upperBound`.
    public struct Bucket: Encodable {
        /// The `le` label; `nil` (JSON `null`) for `+Inf`.
        public var upperBound: Double?
        public var count: Int

        // `upperBound` always present, null for +Inf, so scripts need no existence checks.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(upperBound, forKey: .upperBound)
            try container.encode(count, forKey: .count)
        }

        private enum CodingKeys: String, CodingKey {
            case upperBound, count
        }
    }

    /// Sorted by upper bound, `+Inf` last.
    public var buckets: [Bucket]
    public var sum: Double
    public var count: Int

    /// The observations' mean, or `nil` when there were none.
    public var mean: Double? { count > 0 ? sum / Double(count) : nil }

    /// Reads histogram `name` from `exposition`; `nil` when it has no `_count` line.
    public init?(name: String, in exposition: String) {
        var buckets: [Double?: Int] = [:]
        var sum = 0.0
        var count: Int?
        for line in exposition.split(separator: "\n") where line.hasPrefix(name) && !line.hasPrefix("#") {
            // `name_bucket{queue="q",le="5.0"} 12`: the series, then the value after the last space.
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            let series = line[..<space]
            let suffix = series.dropFirst(name.count).prefix { $0 != "{" }
            switch suffix {
            case "_bucket":
                guard let start = series.range(of: "le=\"")?.upperBound,
                    let end = series[start...].firstIndex(of: "\"")
                else { continue }
                let bound = series[start..<end]
                buckets[bound == "+Inf" ? nil : Double(bound), default: 0] += Int(value)
            case "_sum":
                sum += value
            case "_count":
                count = (count ?? 0) + Int(value)
            default:
                continue
            }
        }
        guard let count else { return nil }
        self.buckets = buckets.map { Bucket(upperBound: $0.key, count: $0.value) }.sorted {
            ($0.upperBound ?? .infinity) < ($1.upperBound ?? .infinity)
        }
        self.sum = sum
        self.count = count
    }
}
