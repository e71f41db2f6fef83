import Testing

@testable import WorkerRuntime

@Suite("WorkerMetrics")
struct WorkerMetricsTests {
    private let metrics = WorkerMetrics(queue: "order-worker", knownTypes: ["order.place", "order.cancel"])

    @Test("a known type is its own label", arguments: ["order.place", "order.cancel"])
    func knownType(type: String) {
        #expect(metrics.typeLabel(type) == type)
    }

    @Test(
        "anything else a producer sends is labelled unknown",
        arguments: ["order.placed", "ORDER.PLACE", "order.place ", "", "evil\u{0}", "unknown.type"])
    func unknownType(type: String) {
        #expect(metrics.typeLabel(type) == "unknown")
    }

    @Test("with no known types every label is unknown")
    func noKnownTypes() {
        let empty = WorkerMetrics(queue: "q", knownTypes: [])
        #expect(empty.typeLabel("order.place") == "unknown")
        #expect(empty.queue == "q")
    }
}
