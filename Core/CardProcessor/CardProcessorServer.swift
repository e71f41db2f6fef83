import CommerceTracing
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// The card processor as services for a `ServiceGroup`: the API listener and, on 127.0.0.1 only,
/// the admin listener for fault injection. Both are Hummingbird applications, so a graceful
/// shutdown stops accepting connections and lets requests in flight finish.
///
/// API listener (docs/payment-gateway.md): `POST /v1/charges`, `GET /v1/charges/{id}`,
/// `GET /v1/charges?idempotency_key=K`, the listing `GET /v1/charges?created[gte]=…&limit=…`,
/// `POST /v1/refunds` (Bearer API key, fault injection),
/// and without authentication `GET /health` and `GET /metrics`. Admin listener:
/// `GET /admin/faults`, `PUT /admin/faults` with `{"error_rate": 0…1, "latency_ms": 0…60000}`
/// (either key may be left out to keep its value).
public struct CardProcessorServer: Sendable {
    /// The faults in force, shared by the API's middleware and the admin listener.
    public let faults: FaultInjector
    private let configuration: CardProcessorConfiguration
    private let store: CardProcessorStore
    private let logger: Logger
    private let metrics: @Sendable () -> String

    /// A server; nothing listens or connects until its services run.
    ///
    /// - Parameter metrics: The Prometheus text for `GET /metrics` (the executable owns the
    ///   registry).
    public init(
        configuration: CardProcessorConfiguration, logger: Logger, metrics: @escaping @Sendable () -> String
    ) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        faults = FaultInjector(configuration.faults)
        store = CardProcessorStore(
            pool: DatabasePool(configuration: configuration.database, prepare: CardProcessorStore.migrate))
    }

    /// Connects once so that the tables exist before the first request; a database that does not
    /// answer yet is only logged: every connection runs the (idempotent) migrations before its
    /// first use, and requests get 503 until then.
    public func prepareDatabase() async {
        do {
            try await store.ping()
            logger.info("database ready")
        } catch {
            logger.warning("database not available yet; answering 503 until it is", metadata: ["error": "\(error)"])
        }
    }

    /// The listeners, API first.
    public var services: [any Service] {
        var services: [any Service] = [apiApplication]
        if let admin = adminApplication { services.append(admin) }
        return services
    }

    private var apiApplication: some Service {
        let api = CardProcessorAPI(store: store, logger: logger, maximumBodyBytes: configuration.maximumBodyBytes)
        let router = Router()
        router.add(middleware: ErrorAndMetricsMiddleware(logger: logger))
        router.get("/health") { request, context in try await api.health(request, context: context) }
        router.get("/metrics") { [metrics] _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: metrics())))
        }
        let v1 = router.group("v1")
        // With tracing on, each API request is a server span continuing the caller's
        // `traceparent` (a malformed one starts a new trace).
        if CommerceTracing.tracer != nil { v1.add(middleware: TracingMiddleware()) }
        v1.add(middleware: FaultMiddleware(faults: faults))
            .add(middleware: AuthenticationMiddleware(apiKey: configuration.apiKey))
        v1.post("charges") { request, context in try await api.createCharge(request, context: context) }
        v1.get("charges") { request, context in try await api.charges(request, context: context) }
        v1.get("charges/{id}") { request, context in try await api.charge(request, context: context) }
        v1.post("refunds") { request, context in try await api.createRefund(request, context: context) }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname(configuration.host, port: configuration.port), serverName: "payment-gateway"),
            logger: logger)
    }

    private var adminApplication: (any Service)? {
        guard let port = configuration.adminPort else { return nil }
        let router = Router()
        router.add(middleware: ErrorAndMetricsMiddleware(logger: logger))
        router.get("/admin/faults") { [faults] _, _ in APIError.json(faults.current, status: .ok) }
        router.put("/admin/faults") { [faults, logger] request, _ in
            let buffer = try await request.body.collect(upTo: 4_096)
            let update: FaultsUpdate
            do {
                update = try JSONDecoder().decode(FaultsUpdate.self, from: Data(buffer.readableBytesView))
            } catch {
                throw CardProcessorAPI.decodingFailure(error)
            }
            var next = faults.current
            if let rate = update.errorRate { next.errorRate = rate }
            if let latency = update.latencyMilliseconds { next.latencyMilliseconds = latency }
            // -1 removes the header.
            if let seconds = update.retryAfterSeconds { next.retryAfterSeconds = seconds < 0 ? nil : seconds }
            if let problem = next.validationProblem { throw APIError.invalidRequest(problem) }
            faults.current = next
            logger.notice(
                "faults changed",
                metadata: ["error_rate": "\(next.errorRate)", "latency_ms": "\(next.latencyMilliseconds)"])
            return APIError.json(next, status: .ok)
        }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(
                address: .hostname("127.0.0.1", port: port), serverName: "payment-gateway-admin"),
            logger: logger)
    }

    /// `PUT /admin/faults`: each key optional.
    private struct FaultsUpdate: Decodable {
        var errorRate: Double?
        var latencyMilliseconds: Int?
        var retryAfterSeconds: Int?

        enum CodingKeys: String, CodingKey {
            case errorRate = "error_rate"
            case latencyMilliseconds = "latency_ms"
            case retryAfterSeconds = "retry_after_s"
        }
    }
}
