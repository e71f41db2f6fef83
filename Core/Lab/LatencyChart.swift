import Foundation

/// The picture of `commerce-lab bench`, as SVG written here (no plotting library): on the left each
/// order's latency over the run (the fleet's flood and fixed-rate runs of the first repetition),
/// on the right the latency percentile curves of every fleet run, with the references' reported
/// percentiles (p50, p90, p99, max) as markers beside them. Both latency axes are logarithmic.
public enum LatencyChart {
    /// One series of points in data units.
    struct Series {
        var label: String
        var color: String
        var points: [(x: Double, y: Double)]
        /// Drawn as dots (a scatter) or as a line.
        var dots: Bool
    }

    static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]

    /// The whole SVG document.
    public static func svg(title: String, fleet: [FleetRun], references: [ReferenceRun]) -> String {
        let shown = fleet.filter { $0.repetition == (fleet.map(\.repetition).min() ?? 1) }
        var timelines: [Series] = []
        var curves: [Series] = []
        for (index, run) in shown.enumerated() {
            let color = palette[index % palette.count]
            let label =
                run.mode == "flood"
                ? "fleet flood, N=\(run.orders)"
                : String(format: "fleet at %.0f orders/s", run.targetRate ?? 0)
            timelines.append(
                Series(label: label, color: color, points: run.timeline.map { ($0[0], $0[1]) }, dots: true))
            if let latency = run.latency {
                curves.append(
                    Series(
                        label: label, color: color,
                        points: latency.curve.filter { $0.percentile < 100 }.map {
                            (nines($0.percentile), $0.milliseconds)
                        }
                            + [(nines(99.999), latency.maxMs)], dots: false))
            }
        }
        let firstReferences = references.filter { $0.ok && $0.repetition == (references.map(\.repetition).min() ?? 1) }
        for (index, reference) in firstReferences.enumerated() where reference.number("p50_ms") != nil {
            let points = [(50.0, "p50_ms"), (90, "p90_ms"), (99, "p99_ms"), (99.999, "max_ms")].compactMap {
                level, key in
                reference.number(key).map { (nines(level), $0) }
            }
            let label =
                reference.name == "ceiling-rate"
                ? String(format: "C ceiling at %.0f/s (p50, p90, p99, max)", reference.number("rate") ?? 0)
                : reference.name == "ceiling"
                    ? "C ceiling flood (p50, p90, p99, max)" : "Celery peer flood (p50, p90, p99, max)"
            curves.append(
                Series(label: label, color: palette[(shown.count + index) % palette.count], points: points, dots: true))
        }
        let width = 1200.0
        let height = 520.0
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(width / 2)" y="22" text-anchor="middle" font-size="15">\(escape(title))</text>

            """
        svg += panel(
            x: 70, y: 50, width: 480, height: 330, title: "Latency of each order over the run",
            xLabel: "seconds since the first publish", yLabel: "ms, publish → terminal event", series: timelines,
            xTicks: nil)
        svg += panel(
            x: 680, y: 50, width: 480, height: 330, title: "Latency percentiles",
            xLabel: "percentile", yLabel: "ms", series: curves,
            xTicks: [
                (nines(50), "50"), (nines(90), "90"), (nines(99), "99"), (nines(99.9), "99.9"), (nines(99.99), "99.99"),
                (nines(99.999), "max"),
            ])
        // One legend under both panels: every series once, in two columns.
        var seen: Set<String> = []
        let legend = (timelines + curves).filter { seen.insert($0.label).inserted }
        for (index, series) in legend.enumerated() {
            let x = index % 2 == 0 ? 70.0 : 680.0
            let legendY = 430.0 + Double(index / 2) * 18
            svg += "<rect x=\"\(x)\" y=\"\(legendY - 9)\" width=\"10\" height=\"10\" fill=\"\(series.color)\"/>"
            svg += "<text x=\"\(x + 16)\" y=\"\(legendY)\">\(escape(series.label))</text>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    /// The percentile axis: `log10(1 / (1 − p))`, so 90, 99 and 99.9 are evenly spaced.
    static func nines(_ percentile: Double) -> Double { log10(1 / max(1e-6, 1 - percentile / 100)) }

    /// One panel: frame, log-scale latency axis, x axis linear (or with given ticks), the series.
    private static func panel(
        x: Double, y: Double, width: Double, height: Double, title: String, xLabel: String, yLabel: String,
        series: [Series], xTicks: [(Double, String)]?
    ) -> String {
        let all = series.flatMap(\.points)
        var out = "<text x=\"\(x + width / 2)\" y=\"\(y - 8)\" text-anchor=\"middle\">\(escape(title))</text>\n"
        out += "<rect x=\"\(x)\" y=\"\(y)\" width=\"\(width)\" height=\"\(height)\" fill=\"none\" stroke=\"#444\"/>\n"
        guard !all.isEmpty else {
            return out + "<text x=\"\(x + width / 2)\" y=\"\(y + height / 2)\" text-anchor=\"middle\">no data</text>\n"
        }
        let xMin = xTicks?.first?.0 ?? 0
        let xMax = max(xTicks?.last?.0 ?? all.map(\.x).max()!, xMin + 1e-9)
        let positive = all.map(\.y).filter { $0 > 0 }
        let yMin = pow(10, floor(log10(positive.min() ?? 1)))
        let yMax = pow(10, ceil(log10(max(positive.max() ?? 10, yMin * 10))))
        func px(_ value: Double) -> Double { x + (value - xMin) / (xMax - xMin) * width }
        func py(_ value: Double) -> Double {
            y + height - (log10(max(value, yMin)) - log10(yMin)) / (log10(yMax) - log10(yMin)) * height
        }
        var decade = yMin
        while decade <= yMax * 1.0001 {
            let line = py(decade)
            out += "<line x1=\"\(x)\" y1=\"\(line)\" x2=\"\(x + width)\" y2=\"\(line)\" stroke=\"#ddd\"/>"
            out += "<text x=\"\(x - 6)\" y=\"\(line + 4)\" text-anchor=\"end\">\(format(decade))</text>\n"
            decade *= 10
        }
        let ticks =
            xTicks
            ?? (0...5).map { step in
                let value = xMin + (xMax - xMin) * Double(step) / 5
                return (value, String(format: xMax - xMin < 10 ? "%.1f" : "%.0f", value))
            }
        for (value, label) in ticks {
            out +=
                "<line x1=\"\(px(value))\" y1=\"\(y + height)\" x2=\"\(px(value))\" y2=\"\(y + height + 5)\" stroke=\"#444\"/>"
            out += "<text x=\"\(px(value))\" y=\"\(y + height + 18)\" text-anchor=\"middle\">\(label)</text>\n"
        }
        out += "<text x=\"\(x + width / 2)\" y=\"\(y + height + 36)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        out +=
            "<text transform=\"translate(\(x - 48) \(y + height / 2)) rotate(-90)\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        for series in series {
            if series.dots {
                for point in series.points {
                    out +=
                        "<circle cx=\"\(px(point.x))\" cy=\"\(py(point.y))\" r=\"\(series.points.count > 50 ? 1.5 : 4)\" fill=\"\(series.color)\" fill-opacity=\"0.7\"/>"
                }
                out += "\n"
            } else {
                let path = series.points.map { "\(px($0.x)),\(py($0.y))" }.joined(separator: " ")
                out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"2\"/>\n"
            }
        }
        return out
    }

    private static func format(_ value: Double) -> String {
        value >= 1 ? String(format: "%.0f", value) : String(format: "%g", value)
    }

    private static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
