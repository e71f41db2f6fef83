import CommerceTracing
import Configuration

extension TracingSettings {
    /// The tracing settings of a process (docs/operations.md, "Tracing"), `nil` when tracing is
    /// off (the default). The endpoint is the first of `tracing.otlpEndpoint`
    /// (`TRACING_OTLP_ENDPOINT`), OpenTelemetry's `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (the
    /// traces URL itself) and `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL; `/v1/traces` is added);
    /// `tracing.serviceName`, else `OTEL_SERVICE_NAME`, else `serviceName`, names the process;
    /// `tracing.queueCapacity` (2048), `tracing.maxBatchSize` (512), `tracing.exportIntervalMs`
    /// (1000) and `tracing.exportTimeoutMs` (5000) bound the exporter. `tracing.otlpHeaders`, else
    /// `OTEL_EXPORTER_OTLP_TRACES_HEADERS`, else `OTEL_EXPORTER_OTLP_HEADERS`, adds headers to
    /// every export (a collector's credentials: a secret, also accepted from a file).
    /// - Throws: ``WorkerConfigurationError`` for an endpoint that is not an `http(s)` URL, a
    ///   bound that is not positive, or headers that are not `name=value` pairs.
    public static func read(from reader: ConfigReader, serviceName: String) throws -> TracingSettings? {
        let candidates: [(key: String, value: String?)] = [
            ("tracing.otlpEndpoint", reader.string(forKey: "tracing.otlpEndpoint")),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", reader.string(forKey: "otel.exporter.otlp.traces.endpoint")),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", reader.string(forKey: "otel.exporter.otlp.endpoint")),
        ]
        guard let (key, value) = candidates.first(where: { !($0.value ?? "").isEmpty }), let endpoint = value else {
            return nil
        }
        guard let url = TracingSettings.tracesURL(endpoint) else {
            throw WorkerConfigurationError(
                key: key, problem: "must be an http:// or https:// URL of an OTLP/HTTP endpoint, not '\(endpoint)'")
        }
        func positive(_ key: ConfigKey, _ fallback: Int) throws -> Int {
            let value = reader.int(forKey: key, default: fallback)
            guard value > 0 else {
                throw WorkerConfigurationError(key: "\(key)", problem: "must be positive, not \(value)")
            }
            return value
        }
        let headerSources: [(key: String, value: String?)] = [
            ("tracing.otlpHeaders", reader.string(forKey: "tracing.otlpHeaders", isSecret: true)),
            (
                "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
                reader.string(forKey: "otel.exporter.otlp.traces.headers", isSecret: true)
            ),
            ("OTEL_EXPORTER_OTLP_HEADERS", reader.string(forKey: "otel.exporter.otlp.headers", isSecret: true)),
        ]
        var headers: [String: String] = [:]
        if let (headersKey, text) = headerSources.first(where: { !($0.value ?? "").isEmpty }), let text {
            guard let parsed = TracingSettings.headers(text) else {
                throw WorkerConfigurationError(
                    key: headersKey,
                    problem: "must be comma-separated name=value pairs (values percent-encoded); the value is not shown"
                )
            }
            headers = parsed
        }
        let name = reader.string(forKey: "tracing.serviceName") ?? reader.string(forKey: "otel.service.name")
        return TracingSettings(
            endpoint: url, serviceName: name.flatMap { $0.isEmpty ? nil : $0 } ?? serviceName,
            queueCapacity: try positive("tracing.queueCapacity", 2048),
            maximumBatchSize: try positive("tracing.maxBatchSize", 512),
            exportInterval: .milliseconds(try positive("tracing.exportIntervalMs", 1000)),
            exportTimeout: .milliseconds(try positive("tracing.exportTimeoutMs", 5000)), headers: headers)
    }
}
