import CommerceTracing
import Configuration
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization
import SystemPackage
import WorkerRuntime

/// The entry point every worker executable calls: the one place that reads configuration files
/// and the environment, bootstraps logging and metrics, and runs the worker and its `/health` +
/// `/metrics` endpoint in a `ServiceGroup` that shuts down gracefully on SIGTERM and SIGINT.
///
/// Configuration comes from environment variables first, then `COMMERCE_CONFIG` (a JSON file) or
/// `config/<appID>.json` when it exists. See ``WorkerConfiguration/init(reader:appID:defaultQueue:defaultBindings:)``
/// for the keys. `LOG_LEVEL` sets the log level (default `info`).
public enum WorkerApplication {
    /// Runs the worker until it is told to stop; exits the process with 0 after a graceful stop,
    /// 78 (EX_CONFIG) on a configuration error and 1 on any other failure, a shutdown that passed
    /// its deadline (`shutdown.timeoutMs`) included. `adjust` may change
    /// the configuration read from files and environment (it gets the environment too).
    public static func run<Handler: MessageHandler>(
        appID: String, defaultQueue: String, bindings: [String],
        adjust: (inout WorkerConfiguration, [String: String]) -> Void = { _, _ in },
        makeHandler: (ConfigReader, Logger) throws -> Handler
    ) async -> Never {
        await run(appID: appID, defaultQueue: defaultQueue, bindings: bindings, adjust: adjust) {
            configuration, reader, logger in
            WorkerService(configuration: configuration, handler: try makeHandler(reader, logger), logger: logger)
        }
    }

    /// The same, for a worker whose effects are MongoDB documents (``DocumentHandler``).
    public static func run<Handler: DocumentHandler>(
        appID: String, defaultQueue: String, bindings: [String],
        adjust: (inout WorkerConfiguration, [String: String]) -> Void = { _, _ in },
        makeDocumentHandler: (ConfigReader, Logger) throws -> Handler
    ) async -> Never {
        await run(appID: appID, defaultQueue: defaultQueue, bindings: bindings, adjust: adjust) {
            configuration, reader, logger in
            WorkerService(
                configuration: configuration, documentHandler: try makeDocumentHandler(reader, logger), logger: logger)
        }
    }

    private static func run(
        appID: String, defaultQueue: String, bindings: [String],
        adjust: (inout WorkerConfiguration, [String: String]) -> Void,
        makeWorker: (WorkerConfiguration, ConfigReader, Logger) throws -> WorkerService
    ) async -> Never {
        let environment = ProcessInfo.processInfo.environment
        // One id for this process: in every JSON log line, in `commerce_worker_info` and in its
        // presence announcements, so that the three can be matched.
        let copyID = String(UUID().uuidString.lowercased().prefix(8))
        LogOutput.bootstrap(
            environment,
            identity: LogOutput.Identity(
                worker: appID, host: ProcessInfo.processInfo.hostName, pid: getpid(), copyID: copyID))
        let logger = Logger(label: appID)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        do {
            let reader = try await configurationReader(appID: appID, environment: environment)
            var configuration = try WorkerConfiguration(
                reader: reader, appID: appID, defaultQueue: defaultQueue, defaultBindings: bindings)
            FaultInjection.install(in: &configuration, environment: environment, logger: logger)
            adjust(&configuration, environment)
            configuration.copyID = copyID
            if let tracing = configuration.tracing {
                configuration.tracer = CommerceTracing.install(tracing, logger: logger)
            }
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            let started = StartedWorker()
            if let port = configuration.httpPort {
                // Listed first: it starts first and stops last, so /health answers during a drain.
                // Bound before the worker is made, so that the port it announces is the one bound
                // (`http.port` 0 picks one).
                let endpoint = HTTPEndpoint(
                    host: configuration.httpHost, port: port, logger: logger,
                    health: { started.worker?.health ?? WorkerHealth(ready: false, problems: ["starting"]) },
                    liveness: { started.worker?.liveness ?? WorkerHealth(ready: true, problems: []) },
                    metrics: { registry.emitToString() })
                try endpoint.bind()
                configuration.httpPort = endpoint.boundPort
                services.append(.init(service: endpoint))
            }
            let worker = try makeWorker(configuration, reader, logger)
            started.worker = worker
            services.append(.init(service: worker))
            var groupConfiguration = ServiceGroupConfiguration(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [],
                logger: logger)
            groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownTimeout
            try await ServiceGroup(configuration: groupConfiguration).run()
            // The spans of the last batches; a collector that does not answer costs at most this.
            CommerceTracing.shutdown(deadline: .seconds(5))
            guard worker.stoppedCleanly else {
                // The shutdown deadline passed: whatever did not commit rolls back when the
                // process ends, and its deliveries, never acknowledged, go back to the queue.
                logger.critical("exiting with work in flight after the shutdown deadline")
                exit(1)
            }
            exit(0)
        } catch let error as WorkerConfigurationError {
            logger.critical("invalid configuration: \(error)")
            exit(78)
        } catch {
            logger.critical("worker failed: \(error)")
            exit(1)
        }
    }

    /// The worker, once made, for the endpoint that is bound before it.
    private final class StartedWorker: Sendable {
        private let made = Mutex<WorkerService?>(nil)
        var worker: WorkerService? {
            get { made.withLock { $0 } }
            set { made.withLock { $0 = newValue } }
        }
    }

    /// Environment variables override the JSON file, key by key; a secret's variable may be given
    /// as `<VARIABLE>_FILE` instead (``SecretFiles``).
    public static func configurationReader(appID: String, environment: [String: String]) async throws -> ConfigReader {
        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(environmentVariables: try SecretFiles.resolve(environment))
        ]
        let path = environment["COMMERCE_CONFIG"] ?? "config/\(appID).json"
        if FileManager.default.fileExists(atPath: path) {
            providers.append(try await FileProvider<JSONSnapshot>(filePath: FilePath(path)))
        } else if environment["COMMERCE_CONFIG"] != nil {
            throw WorkerConfigurationError(key: "COMMERCE_CONFIG", problem: "names a missing file: \(path)")
        }
        return ConfigReader(providers: providers)
    }
}
