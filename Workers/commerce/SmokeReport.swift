import Foundation

/// What `commerce smoke` did: where it connected and every step in order, with its timing.
///
/// Built step by step by ``SmokeRecorder``; printed as text while it runs, or as JSON at the end.
struct SmokeReport: Encodable {
    /// One server the smoke run talked to.
    struct Target: Encodable {
        /// `rabbitmq`, `postgresql` or `mongodb`.
        var component: String
        /// The address, with any password replaced by `***`.
        var address: String
    }

    /// One check.
    struct Step: Encodable {
        var component: String
        var name: String
        var passed: Bool
        var durationMs: Double
        /// Why it failed; `nil` (JSON `null`) when it passed.
        var error: String?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(component, forKey: .component)
            try container.encode(name, forKey: .name)
            try container.encode(passed, forKey: .passed)
            try container.encode(durationMs, forKey: .durationMs)
            try container.encode(error, forKey: .error)
        }

        private enum CodingKeys: String, CodingKey {
            case component, name, passed, durationMs, error
        }
    }

    var passed: Bool
    var durationMs: Double
    var targets: [Target]
    var steps: [Step]
}

/// Runs and times the steps of a smoke run, prints each as it finishes (in text mode), and
/// collects the ``SmokeReport``.
///
/// A failing ``step(_:_:)`` records the failure and throws ``SmokeRecorder/Stop``, so a
/// component's remaining steps, which depend on it, do not run; ``cleanup(_:_:)`` steps always
/// run and never throw.
final class SmokeRecorder {
    /// Thrown by ``step(_:_:)`` after a failed step has been recorded.
    struct Stop: Error {}

    private(set) var targets: [SmokeReport.Target] = []
    private(set) var steps: [SmokeReport.Step] = []
    private let printsProgress: Bool
    private let describe: (any Error) -> String
    private var component = ""
    private let start = ContinuousClock.now

    /// - Parameters:
    ///   - printsProgress: print a line per step as it finishes (text mode).
    ///   - describe: turns a step's error into the message shown to the user.
    init(printsProgress: Bool, describe: @escaping (any Error) -> String) {
        self.printsProgress = printsProgress
        self.describe = describe
    }

    /// Starts the steps of one server.
    func begin(component: String, title: String, address: String) {
        self.component = component
        targets.append(SmokeReport.Target(component: component, address: address))
        show("\(Self.padded(title, to: 12))\(address)")
    }

    /// Runs one check and records it. On failure, records the error and throws ``Stop``.
    @discardableResult
    func step<T>(_ name: String, _ body: () throws -> T) throws -> T {
        let started = ContinuousClock.now
        do {
            let value = try body()
            record(name, started: started, error: nil)
            return value
        } catch {
            record(name, started: started, error: describe(error))
            throw Stop()
        }
    }

    /// Runs a clean-up step and records it; a failure is recorded, never thrown.
    func cleanup(_ name: String, _ body: () throws -> Void) {
        _ = try? step(name, body)
    }

    /// The report of everything recorded so far.
    var report: SmokeReport {
        SmokeReport(
            passed: !steps.isEmpty && steps.allSatisfy(\.passed),
            durationMs: Self.milliseconds(ContinuousClock.now - start),
            targets: targets, steps: steps)
    }

    private func record(_ name: String, started: ContinuousClock.Instant, error: String?) {
        let step = SmokeReport.Step(
            component: component, name: name, passed: error == nil,
            durationMs: Self.milliseconds(ContinuousClock.now - started), error: error)
        steps.append(step)
        let mark = step.passed ? "✓" : "✗"
        show("  \(mark) \(Self.padded(name, to: 58)) \(Self.format(step.durationMs))")
        if let error { show("      \(error)") }
    }

    private func show(_ line: String) {
        guard printsProgress else { return }
        print(line)
        // Progress should appear as it happens, also when stdout is a pipe (scripts/run.sh | tee).
        fflush(nil)  // all streams: Swift 6 forbids naming the global `stdout` here
    }

    static func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return ((Double(seconds) * 1000 + Double(attoseconds) / 1e15) * 10).rounded() / 10
    }

    static func format(_ milliseconds: Double) -> String {
        let text = String(format: "%.1f ms", milliseconds)
        return String(repeating: " ", count: max(0, 10 - text.count)) + text
    }

    static func padded(_ text: String, to width: Int) -> String {
        text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
    }
}
