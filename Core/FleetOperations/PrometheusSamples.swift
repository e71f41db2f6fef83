import Foundation

/// Samples read from a Prometheus text exposition (a worker's `/metrics`): `name{labels} value`
/// lines, for `commerce status` and the lab's benchmarks.
public struct PrometheusSamples: Sendable {
    /// One series: `name{labels} value`.
    public struct Sample: Sendable, Hashable {
        public var name: String
        public var labels: [String: String]
        public var value: Double
    }

    /// Every series read, in the order of the exposition.
    public var samples: [Sample] = []

    /// Reads `exposition`; lines that are not samples (comments, malformed lines) are skipped.
    public init(_ exposition: String) {
        for line in exposition.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                continue
            }
            let series = line[..<space]
            var labels: [String: String] = [:]
            let name: Substring
            if let brace = series.firstIndex(of: "{") {
                name = series[..<brace]
                // `queue="q",type="t"`: values are quoted; names and values here hold no `",`.
                for pair in series[series.index(after: brace)...].dropLast().split(separator: ",") {
                    guard let equals = pair.firstIndex(of: "=") else { continue }
                    labels[String(pair[..<equals])] = String(
                        pair[pair.index(after: equals)...].trimmingCharacters(in: ["\""]))
                }
            } else {
                name = series
            }
            samples.append(Sample(name: String(name), labels: labels, value: value))
        }
    }

    /// The sum of every series of `name`; `nil` when there is none.
    public func total(_ name: String) -> Double? {
        let matching = samples.filter { $0.name == name }
        return matching.isEmpty ? nil : matching.reduce(0) { $0 + $1.value }
    }

    /// The sum of the series of `name` per value of label `label`.
    public func totals(_ name: String, by label: String) -> [String: Double] {
        var result: [String: Double] = [:]
        for sample in samples where sample.name == name {
            result[sample.labels[label] ?? "", default: 0] += sample.value
        }
        return result
    }
}
