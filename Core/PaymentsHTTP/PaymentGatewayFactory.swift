import Configuration
import Logging
import Payments
import Resilience
import WorkerRuntime

/// Builds the payment worker's ``PaymentGateway`` from its configuration, timed and logged by
/// ``MeteredGateway``.
///
/// Keys (each overridable by its environment variable, `payment.http.apiKey` →
/// `PAYMENT_HTTP_API_KEY`):
/// - `payment.gateway`: `sandbox` (the default of the code, for unit tests) or `http`;
/// - `payment.http.url` (default `http://127.0.0.1:9180`, the local `payment-gateway`);
/// - `payment.http.apiKey` (secret; required for `http`);
/// - `payment.http.timeoutMs` (per attempt, default 5000);
/// - `payment.http.maxAttempts` (per call, default 3);
/// - `payment.http.concurrency` (connections to the processor, default 64).
public enum PaymentGatewayFactory {
    /// The gateway the configuration names, and its kind.
    /// - Throws: ``WorkerConfigurationError`` naming the key of a missing or invalid value.
    public static func makeGateway(reader: ConfigReader, logger: Logger) throws -> (
        kind: PaymentGatewayKind, gateway: any PaymentGateway
    ) {
        let name = reader.string(forKey: "payment.gateway", default: PaymentGatewayKind.sandbox.rawValue)
        guard let kind = PaymentGatewayKind(rawValue: name) else {
            let known = PaymentGatewayKind.allCases.map(\.rawValue).joined(separator: ", ")
            throw WorkerConfigurationError(
                key: "payment.gateway", problem: "names an unknown gateway '\(name)' (known: \(known))")
        }
        switch kind {
        case .sandbox:
            return (kind, MeteredGateway(SandboxGateway(), logger: logger))
        case .http:
            let configuration = try httpConfiguration(reader: reader)
            return (
                kind, MeteredGateway(HTTPPaymentGateway(configuration: configuration, logger: logger), logger: logger)
            )
        }
    }

    /// The `payment.http.*` keys as an ``HTTPPaymentGateway/Configuration``.
    /// - Throws: ``WorkerConfigurationError`` naming the key of a missing or invalid value.
    public static func httpConfiguration(reader: ConfigReader) throws -> HTTPPaymentGateway.Configuration {
        let url = reader.string(forKey: "payment.http.url", default: "http://127.0.0.1:9180")
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw WorkerConfigurationError(key: "payment.http.url", problem: "must be an http:// or https:// URL")
        }
        guard let apiKey = reader.string(forKey: "payment.http.apiKey", isSecret: true), !apiKey.isEmpty else {
            throw WorkerConfigurationError(
                key: "payment.http.apiKey", problem: "is required (env PAYMENT_HTTP_API_KEY)")
        }
        let timeout = reader.int(forKey: "payment.http.timeoutMs", default: 5_000)
        let attempts = reader.int(forKey: "payment.http.maxAttempts", default: 3)
        let concurrency = reader.int(forKey: "payment.http.concurrency", default: 64)
        guard timeout > 0 else {
            throw WorkerConfigurationError(key: "payment.http.timeoutMs", problem: "must be positive, not \(timeout)")
        }
        guard (1...20).contains(attempts) else {
            throw WorkerConfigurationError(key: "payment.http.maxAttempts", problem: "must be 1 to 20, not \(attempts)")
        }
        guard (1...1024).contains(concurrency) else {
            throw WorkerConfigurationError(
                key: "payment.http.concurrency", problem: "must be 1 to 1024, not \(concurrency)")
        }
        var configuration = HTTPPaymentGateway.Configuration(
            baseURL: url, apiKey: apiKey, timeout: .milliseconds(timeout), concurrency: concurrency)
        configuration.retry.maximumAttempts = attempts
        return configuration
    }
}
