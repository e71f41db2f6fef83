// swift-tools-version: 6.2
// The commerce order pipeline: a fleet of worker executables over RabbitMQ.
// Layout (README.md, "Layout"): Core/ holds libraries, Workers/ the executables, Tests/ the tests.
import PackageDescription

let package = Package(
    name: "commerce",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "commerce", targets: ["commerce"]),
        .executable(name: "commerce-lab", targets: ["commerce-lab"]),
        .executable(name: "probe-worker", targets: ["probe-worker"]),
        .executable(name: "order-worker", targets: ["order-worker"]),
        .executable(name: "stock-worker", targets: ["stock-worker"]),
        .executable(name: "payment-worker", targets: ["payment-worker"]),
        .executable(name: "notification-worker", targets: ["notification-worker"]),
        .executable(name: "payment-gateway", targets: ["payment-gateway"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.5.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.1.0"),
        // The card processor's HTTP server (payment-gateway) and the payment worker's HTTP client.
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.65.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.0.0"),
        // W3C trace context across the saga, exported over OTLP/HTTP (docs/operations.md, "Tracing").
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.1.0"),
    ],
    targets: [
        // C bindings: module map + shim header only. Nothing outside Core imports these.
        .systemLibrary(
            name: "CRabbitMQ", path: "Core/CRabbitMQ", pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]),
        .systemLibrary(
            name: "CLibPQ", path: "Core/CLibPQ", pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]),
        .systemLibrary(
            name: "CMongoC", path: "Core/CMongoC", pkgConfig: "libmongoc-1.0",
            providers: [.apt(["libmongoc-dev"])]),

        // Small helpers every layer shares (Duration as seconds or milliseconds); no dependencies.
        .target(name: "CommerceSupport", path: "Core/Support"),

        // Swift wrappers, one per C library: blocking, thread-confined handles with typed errors.
        .target(name: "AMQP", dependencies: ["CRabbitMQ", "CommerceSupport"], path: "Core/AMQP"),
        .target(name: "Postgres", dependencies: ["CLibPQ"], path: "Core/Postgres"),
        .target(name: "Mongo", dependencies: ["CMongoC"], path: "Core/Mongo"),

        // Pure modules: no C, no I/O.
        .target(name: "CommerceDomain", path: "Core/CommerceDomain"),
        .target(name: "CommerceMessages", dependencies: ["CommerceDomain"], path: "Core/CommerceMessages"),
        .target(name: "Resilience", path: "Core/Resilience"),

        // Traces: the W3C trace context, a swift-distributed-tracing tracer and its OTLP/HTTP JSON
        // exporter (a bounded queue drained by a thread of its own). Off unless configured.
        .target(
            name: "CommerceTracing",
            dependencies: [
                "CommerceSupport",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Core/Tracing"),

        // The shared worker runtime: topology, consume loop, inbox/outbox, retries, dead letters,
        // lifecycle and metrics. Every worker executable stands on it.
        .target(
            name: "WorkerRuntime",
            dependencies: [
                "AMQP", "Postgres", "Mongo", "CommerceMessages", "Resilience", "CommerceSupport", "CommerceTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            path: "Core/WorkerRuntime"),

        // The services of the saga (docs/saga.md): each one's handlers, its repository over its
        // own store and its state machine. Worker executables wire them to the runtime; tests and
        // the `commerce` tool use them directly.
        .target(
            name: "Ordering",
            dependencies: ["CommerceDomain", "CommerceMessages", "WorkerRuntime", "Postgres"],
            path: "Core/Ordering"),
        .target(
            name: "Inventory", dependencies: ["CommerceMessages", "WorkerRuntime", "Postgres"], path: "Core/Inventory"),
        .target(
            name: "Payments",
            dependencies: [
                "CommerceMessages", "WorkerRuntime", "Postgres", "Resilience", "CommerceSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            path: "Core/Payments"),
        .target(
            name: "Notifications", dependencies: ["CommerceMessages", "WorkerRuntime", "Mongo"],
            path: "Core/Notifications"),
        // The payment worker's HTTP adapter of the PaymentGateway port (AsyncHTTPClient), and the
        // factory that picks the gateway from `payment.gateway`.
        .target(
            name: "PaymentsHTTP",
            dependencies: [
                "Payments", "Resilience", "WorkerRuntime", "CommerceTracing",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Core/PaymentsHTTP"),
        // The card processor's test mode over HTTP (Hummingbird), with its state in PostgreSQL
        // through a pool of thread-confined libpq connections (docs/payment-gateway.md).
        .target(
            name: "CardProcessor",
            dependencies: [
                "Postgres", "CommerceTracing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Core/CardProcessor"),
        // The cross-store audit of the saga's invariants (docs/saga.md): all four services' stores at once.
        .target(
            name: "SagaAudit",
            dependencies: [
                "Ordering", "Inventory", "Payments", "Notifications", "CommerceDomain", "Postgres", "Mongo",
            ],
            path: "Core/SagaAudit"),

        // The entry point shared by worker executables: configuration files + environment,
        // logging and metrics bootstrap, ServiceGroup with signal handling.
        .target(
            name: "WorkerApp",
            dependencies: [
                "WorkerRuntime", "CommerceSupport", "CommerceTracing",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Core/WorkerApp"),

        // Child processes, a fleet launcher, free loopback ports and a tiny HTTP GET, for code that starts workers
        // (the commerce command, integration tests). Foundation and Glibc only.
        .target(name: "LocalProcess", path: "Core/LocalProcess"),

        // What `commerce-lab chaos` throws at the fleet (hostile messages), shared with the tests.
        .target(name: "Chaos", dependencies: ["AMQP"], path: "Core/Chaos"),

        // What an operator does, as an API with no command line and no printing (docs/architecture.md):
        // `commerce` and `commerce-lab` are commands over it.
        .target(
            name: "FleetOperations",
            dependencies: [
                "AMQP", "Postgres", "Mongo", "CommerceMessages", "CommerceSupport", "WorkerRuntime", "Ordering",
                "Inventory", "Payments", "PaymentsHTTP", "Notifications", "SagaAudit", "CommerceTracing",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Core/FleetOperations"),

        // The lab's runs without a command line (docs/benchmarks.md, docs/chaos.md): fleets of its own
        // (SagaFleet), the saga and runtime benchmarks, the chaos run and its faults, the reference
        // runs and the latency figures. `commerce-lab` is commands over it.
        .target(
            name: "Lab",
            dependencies: [
                "AMQP", "Postgres", "Mongo", "CommerceMessages", "WorkerRuntime", "CommerceSupport", "LocalProcess",
                "SagaAudit", "Ordering", "Inventory", "Payments", "Chaos", "Resilience", "FleetOperations",
                "CommerceTracing",
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            path: "Core/Lab"),

        // What the command-line tools share (docs/architecture.md): option groups (broker, stores,
        // output, card processor), the text table, error rendering and connection settings.
        .target(
            name: "CommandLineSupport",
            dependencies: [
                "AMQP", "Postgres", "Mongo", "SagaAudit", "Payments", "PaymentsHTTP", "CommerceSupport",
                "FleetOperations",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Core/CommandLineSupport"),

        // Executables: wiring of Core pieces.
        .executableTarget(
            name: "commerce",
            dependencies: [
                "AMQP", "Postgres", "Mongo", "CommerceDomain", "CommerceMessages", "WorkerRuntime", "CommerceSupport",
                "SagaAudit", "Ordering", "Inventory", "Payments", "Notifications", "CommandLineSupport",
                "FleetOperations", "CommerceTracing",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Workers/commerce"),
        // The lab (docs/benchmarks.md, docs/chaos.md): benchmarks, fault injection and the sample-order
        // demo, apart from the operator tool. The logic is the `Lab` library; the executable holds the
        // commands and their options.
        .executableTarget(
            name: "commerce-lab",
            dependencies: [
                "AMQP", "Postgres", "Mongo", "CommerceDomain", "CommerceMessages", "WorkerRuntime", "CommerceSupport",
                "LocalProcess", "SagaAudit", "Payments", "PaymentsHTTP", "Resilience", "CommandLineSupport",
                "FleetOperations", "Lab",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Workers/commerce-lab"),
        .executableTarget(
            name: "probe-worker",
            dependencies: ["WorkerApp", "WorkerRuntime", "Mongo", "CommerceMessages", "Postgres"],
            path: "Workers/probe-worker"),

        .executableTarget(
            name: "order-worker", dependencies: ["WorkerApp", "WorkerRuntime", "Ordering"],
            path: "Workers/order-worker"),
        .executableTarget(
            name: "stock-worker", dependencies: ["WorkerApp", "WorkerRuntime", "Inventory"],
            path: "Workers/stock-worker"),
        .executableTarget(
            name: "payment-worker", dependencies: ["WorkerApp", "WorkerRuntime", "Payments", "PaymentsHTTP"],
            path: "Workers/payment-worker"),
        .executableTarget(
            name: "payment-gateway",
            dependencies: [
                "CardProcessor", "WorkerApp", "WorkerRuntime", "CommerceTracing",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Workers/payment-gateway"),
        .executableTarget(
            name: "notification-worker", dependencies: ["WorkerApp", "WorkerRuntime", "Notifications"],
            path: "Workers/notification-worker"),

        // Tests (README.md, "Tests"), one target per area so that a change runs the tests it touches;
        // server tests use real servers, started by scripts/services.sh.
        // Test helpers every test target shares: the servers' URLs (environment overrides), throwaway
        // databases, fixtures that name and clean up their broker objects through `Topology`, worker
        // processes, the built executables. A library, not a test target, as swift-service-lifecycle's
        // ServiceLifecycleTestKit.
        .target(
            name: "CommerceTestKit",
            dependencies: [
                "AMQP", "Postgres", "Mongo", "WorkerRuntime", "CommerceDomain", "CommerceMessages", "CommerceSupport",
                "LocalProcess", "Inventory", "PaymentsHTTP", "SagaAudit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/CommerceTestKit"),
        // The pure domain: money, orders, pricing, the message contract. No servers.
        .testTarget(
            name: "DomainTests",
            dependencies: [
                "CommerceDomain", "CommerceMessages",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            path: "Tests/DomainTests"),
        // The runtime and the C-library wrappers: retry and admission rules, topology and the circuit
        // breaker without servers; AMQP, PostgreSQL, MongoDB, the probe-worker, the journal and hostile
        // input against real ones.
        .testTarget(
            name: "RuntimeTests",
            dependencies: [
                "CommerceTestKit", "Resilience", "WorkerRuntime", "WorkerApp", "CommerceMessages", "Postgres", "AMQP",
                "Mongo", "Chaos", "Inventory", "CommerceTracing",
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            path: "Tests/RuntimeTests"),
        // The saga's services and their workers: each service's state machine and handlers without
        // servers; each worker as a process, the whole fleet, rejections, races, trust boundaries,
        // events in any order.
        .testTarget(
            name: "ServiceTests",
            dependencies: [
                "CommerceTestKit", "Ordering", "Inventory", "Payments", "Notifications", "CommerceDomain",
                "CommerceMessages", "SagaAudit", "PaymentsHTTP", "WorkerRuntime", "Resilience", "AMQP", "Postgres",
                "Mongo", "LocalProcess",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/ServiceTests"),
        // The `commerce` operator tool, run as a process (dlq, order, setup and stock, status,
        // completion, bench, chaos), and FleetOperations, the library under it, called directly.
        .testTarget(
            name: "OperationsTests",
            dependencies: [
                "CommerceTestKit", "AMQP", "Postgres", "Mongo", "WorkerRuntime", "CommerceMessages", "Inventory",
                "Ordering", "SagaAudit", "FleetOperations", "LocalProcess",
            ],
            path: "Tests/OperationsTests"),
        // The card processor: payment-gateway over HTTP, the payment worker's HTTP adapter, the
        // processor's limits, the saga through a gateway outage.
        .testTarget(
            name: "CardProcessorTests",
            dependencies: [
                "CommerceTestKit", "PaymentsHTTP", "Payments", "Resilience", "WorkerRuntime", "CommerceDomain",
                "CommerceMessages", "Inventory",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Tests/CardProcessorTests"),
    ],
    swiftLanguageModes: [.v6]
)
