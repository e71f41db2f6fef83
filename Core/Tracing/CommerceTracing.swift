import Foundation
import Logging
import Synchronization
import Tracing

/// How a process exports its spans (docs/operations.md, "Tracing"). Tracing is on only when an
/// endpoint is configured.
public struct TracingSettings: Sendable, Equatable {
    /// The OTLP/HTTP traces URL (`…/v1/traces`).
    public var endpoint: String
    /// `service.name` of the exported resource.
    public var serviceName: String
    /// Ended spans waiting for export; beyond this they are dropped and counted.
    public var queueCapacity: Int
    /// Most spans in one export request.
    public var maximumBatchSize: Int
    /// How often queued spans are sent (sooner when a batch is full).
    public var exportInterval: Duration
    /// Deadline of one export request.
    public var exportTimeout: Duration
    /// Headers sent with every export request, such as a collector's API key: secrets, never
    /// logged.
    public var headers: [String: String]

    public init(
        endpoint: String, serviceName: String, queueCapacity: Int = 2048, maximumBatchSize: Int = 512,
        exportInterval: Duration = .seconds(1), exportTimeout: Duration = .seconds(5), headers: [String: String] = [:]
    ) {
        self.endpoint = endpoint
        self.serviceName = serviceName
        self.queueCapacity = queueCapacity
        self.maximumBatchSize = maximumBatchSize
        self.exportInterval = exportInterval
        self.exportTimeout = exportTimeout
        self.headers = headers
    }

    /// Headers in OpenTelemetry's `OTEL_EXPORTER_OTLP_HEADERS` form: `name=value` pairs separated
    /// by commas, each value percent-decoded (`api-key=abc%3D%3D,x-tenant=shop`), surrounding white
    /// space ignored. `nil` when a pair has no `=`, a name is not an HTTP token, or a value holds a
    /// control character; the caller names the setting, never the text (it is a secret).
    public static func headers(_ text: String) -> [String: String]? {
        var headers: [String: String] = [:]
        let tokenCharacters = Set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        for pair in text.split(separator: ",", omittingEmptySubsequences: true) {
            let trimmed = pair.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty { continue }
            guard let equals = trimmed.firstIndex(of: "=") else { return nil }
            let name = trimmed[..<equals].trimmingCharacters(in: .whitespaces)
            let raw = trimmed[trimmed.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, name.allSatisfy({ tokenCharacters.contains($0) }),
                let value = raw.removingPercentEncoding,
                !value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
            else { return nil }
            headers[name] = value
        }
        return headers
    }

    /// The traces URL for an OTLP endpoint: a base URL (`http://collector:4318`, as
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` gives it) gets `/v1/traces`; a URL already ending in
    /// `/v1/traces` is kept. `nil` unless it is an `http` or `https` URL with a host.
    public static func tracesURL(_ endpoint: String) -> String? {
        guard let url = URL(string: endpoint), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
        else { return nil }
        if endpoint.hasSuffix("/v1/traces") { return endpoint }
        return (endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint) + "/v1/traces"
    }
}

/// The process's tracer, once installed: `nil` means tracing is off, and code that would start
/// a span only forwards the trace context it was given.
public enum CommerceTracing {
    private static let installed = Mutex<CommerceTracer?>(nil)

    /// The installed tracer, if tracing is on.
    public static var tracer: CommerceTracer? { installed.withLock { $0 } }

    /// Starts the exporter's thread and installs the tracer, also as swift-distributed-tracing's
    /// `InstrumentationSystem` tracer (which HTTP middleware uses). Once per process; a second
    /// call returns the first tracer.
    @discardableResult
    public static func install(_ settings: TracingSettings, logger: Logger) -> CommerceTracer {
        installed.withLock { current in
            if let current { return current }
            let exporter = SpanExporter(settings: settings, logger: logger)
            exporter.start()
            let tracer = CommerceTracer(serviceName: settings.serviceName, exporter: exporter)
            InstrumentationSystem.bootstrap(tracer)
            current = tracer
            logger.info(
                "tracing on",
                metadata: ["endpoint": "\(redacted(settings.endpoint))", "service": "\(settings.serviceName)"])
            return tracer
        }
    }

    /// `endpoint` without the user and password a URL may carry, for logs.
    static func redacted(_ endpoint: String) -> String {
        guard var parts = URLComponents(string: endpoint), parts.user != nil || parts.password != nil else {
            return endpoint
        }
        parts.user = nil
        parts.password = nil
        return parts.string ?? "(an endpoint with credentials)"
    }

    /// Exports what is queued and stops the exporter, waiting `deadline` at most. For the end of
    /// the process; spans ended later are dropped.
    public static func shutdown(deadline: Duration = .seconds(5)) {
        tracer?.exporter.shutdown(deadline: deadline)
    }
}
