/// The value of the first sample of `name` in Prometheus text (a worker's `/metrics`), summed
/// over its label sets.
public func metricValue(_ text: String, _ name: String) -> Double? {
    var total: Double?
    for line in text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
        if let value = line.split(separator: " ").last.flatMap({ Double($0) }) { total = (total ?? 0) + value }
    }
    return total
}
