import CommerceTracing
import Configuration
import Testing
import WorkerRuntime

/// The W3C `traceparent` parsing every worker applies to what upstream sends, and the `tracing.*`
/// keys: without servers.
@Suite("Trace context and tracing settings")
struct TraceContextTests {
    static let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func readsAndWritesAValidTraceparent() throws {
        let context = try #require(TraceContext(traceparent: Self.valid, traceState: "vendor=1"))
        #expect(context.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(context.spanIDHex == "00f067aa0ba902b7")
        #expect(context.isSampled)
        #expect(context.traceparent == Self.valid)
        #expect(context.traceState == "vendor=1")
        let child = context.child()
        #expect(child.traceID == context.traceID && child.spanID != context.spanID && child.traceState == "vendor=1")
        // A later version may append fields; its first four are read.
        #expect(
            TraceContext(traceparent: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra")?.isSampled
                == false)
    }

    @Test(
        "a malformed traceparent is refused",
        arguments: [
            "", "garbage", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01, 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ])
    func refusesMalformed(_ header: String) {
        #expect(TraceContext(traceparent: header) == nil)
    }

    @Test func dropsAnOversizedTracestate() {
        let context = TraceContext(traceparent: Self.valid, traceState: String(repeating: "a", count: 513))
        #expect(context != nil && context?.traceState == nil)
    }

    @Test func newTracesDiffer() {
        let first = TraceContext.newTrace()
        let second = TraceContext.newTrace()
        #expect(first.traceID != second.traceID)
        #expect(TraceContext(traceparent: first.traceparent) == first)
        #expect(JournalEntry.traceID(ofTraceParent: first.traceparent) == first.traceID)
        #expect(JournalEntry.traceID(ofTraceParent: nil) == nil)
    }

    private func settings(_ values: [String: String]) throws -> TracingSettings? {
        try TracingSettings.read(
            from: ConfigReader(provider: EnvironmentVariablesProvider(environmentVariables: values)),
            serviceName: "order-worker")
    }

    @Test func tracingIsOffUnlessAnEndpointIsGiven() throws {
        #expect(try settings([:]) == nil)
        #expect(try settings(["TRACING_OTLP_ENDPOINT": ""]) == nil)
        let standard = try #require(try settings(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"]))
        #expect(standard.endpoint == "http://collector:4318/v1/traces")
        #expect(standard.serviceName == "order-worker" && standard.queueCapacity == 2048)
        let ours = try #require(
            try settings([
                "TRACING_OTLP_ENDPOINT": "https://otel.example:4318/v1/traces",
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://other:4318", "OTEL_SERVICE_NAME": "orders",
                "TRACING_QUEUE_CAPACITY": "16",
            ]))
        #expect(ours.endpoint == "https://otel.example:4318/v1/traces")
        #expect(ours.serviceName == "orders" && ours.queueCapacity == 16)
        #expect(throws: WorkerConfigurationError.self) { try settings(["TRACING_OTLP_ENDPOINT": "collector:4318"]) }
        #expect(throws: WorkerConfigurationError.self) {
            try settings(["TRACING_OTLP_ENDPOINT": "http://collector:4318", "TRACING_QUEUE_CAPACITY": "0"])
        }
    }

    @Test(
        "export headers: OpenTelemetry's name=value list, percent-decoded; a malformed list is refused without its text"
    )
    func exportHeaders() throws {
        #expect(
            TracingSettings.headers("api-key=abc%3D%3D, x-tenant = shop ,") == ["api-key": "abc==", "x-tenant": "shop"])
        #expect(TracingSettings.headers("") == [:])
        #expect(TracingSettings.headers("no-equals-sign") == nil)
        #expect(TracingSettings.headers("bad name=1") == nil)
        #expect(TracingSettings.headers("x=line%0Abreak") == nil)
        let endpoint = "http://collector:4318"
        let ours = try #require(
            try settings([
                "TRACING_OTLP_ENDPOINT": endpoint, "TRACING_OTLP_HEADERS": "authorization=Bearer%20s3cret",
                "OTEL_EXPORTER_OTLP_HEADERS": "other=1",
            ]))
        #expect(ours.headers == ["authorization": "Bearer s3cret"])
        let standard = try #require(
            try settings(["OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_HEADERS": "x-key=k1"]))
        #expect(standard.headers == ["x-key": "k1"])
        do {
            _ = try settings(["TRACING_OTLP_ENDPOINT": endpoint, "TRACING_OTLP_HEADERS": "s3cret-without-pair"])
            Issue.record("malformed headers were accepted")
        } catch {
            #expect(!"\(error)".contains("s3cret"), "the error shows the secret: \(error)")
        }
    }
}
