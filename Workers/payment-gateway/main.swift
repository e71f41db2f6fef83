// payment-gateway: a card processor's test mode over HTTP, for the payment-worker's HTTP adapter
// (docs/payment-gateway.md). Wiring only: the server is Core/CardProcessor.
//
// Configuration: environment variables first, then COMMERCE_CONFIG or config/payment-gateway.json
// (as the workers read theirs). Exit 0 after a graceful stop (SIGTERM, SIGINT), 78 on a
// configuration error, 1 on any other failure (a port already taken).
import CardProcessor
import CommerceTracing
import Configuration
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import WorkerApp
import WorkerRuntime

let environment = ProcessInfo.processInfo.environment
LogOutput.bootstrap(environment)
let logger = Logger(label: "payment-gateway")
let registry = PrometheusCollectorRegistry()
MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

do {
    let reader = try await WorkerApplication.configurationReader(appID: "payment-gateway", environment: environment)
    let configuration = try CardProcessorConfiguration(reader: reader)
    // Before the server is built: its API routes get a tracing middleware only when this is on.
    if let tracing = try TracingSettings.read(from: reader, serviceName: "payment-gateway") {
        CommerceTracing.install(tracing, logger: logger)
    }
    let server = CardProcessorServer(configuration: configuration, logger: logger, metrics: { registry.emitToString() })
    logger.info(
        "payment gateway starting",
        metadata: [
            "address": "\(configuration.host):\(configuration.port)",
            "admin": "\(configuration.adminPort.map { "127.0.0.1:\($0)" } ?? "off")",
            "pool": "\(configuration.database.size)",
        ])
    await server.prepareDatabase()
    var group = ServiceGroupConfiguration(
        services: server.services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
        cancellationSignals: [], logger: logger)
    group.maximumGracefulShutdownDuration = .seconds(10)
    try await ServiceGroup(configuration: group).run()
    CommerceTracing.shutdown(deadline: .seconds(5))
    logger.info("payment gateway stopped")
    exit(0)
} catch {
    // A plain catch and a cast: `catch let … as` can crash the Swift 6.3 compiler near typed throws.
    if let error = error as? WorkerConfigurationError {
        logger.critical("invalid configuration: \(error)")
        exit(78)
    }
    logger.critical("payment gateway failed: \(error)")
    exit(1)
}
