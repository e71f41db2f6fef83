import AMQP
import ArgumentParser
import CommandLineSupport
import CommerceTracing
import Configuration
import FleetOperations
import Logging
import WorkerRuntime

/// `--amqp-url` and `--exchange`, shared by `commerce place-order` and `commerce cancel-order`.
struct PublishOptions: ParsableArguments {
    @OptionGroup var broker: BrokerOptions

    @Option(help: ArgumentHelp("The topic exchange (the workers' EXCHANGE_NAME).", valueName: "name"))
    var exchange = FleetCatalog.exchange

    @Option(
        help: ArgumentHelp(
            "Continue this W3C trace (a traceparent header value) instead of starting one per command.",
            valueName: "traceparent"))
    var traceparent: String?

    func validate() throws {
        guard !exchange.isEmpty, exchange.utf8.count <= 255 else {
            throw ValidationError("--exchange needs a name of 1 to 255 bytes")
        }
        if let traceparent, TraceContext(traceparent: traceparent) == nil {
            throw ValidationError(
                "--traceparent needs a W3C traceparent (00-<32 hex digits>-<16 hex digits>-<2 hex digits>), "
                    + "not '\(traceparent)'")
        }
    }

    /// The trace to continue, if given.
    var trace: TraceContext? { traceparent.flatMap { TraceContext(traceparent: $0) } }

    /// Exports the command's `publish` spans when the environment names an OTLP endpoint
    /// (`TRACING_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or
    /// `OTEL_EXPORTER_OTLP_ENDPOINT`, as for the workers); without one, the commands still start
    /// the trace the fleet carries on, and only their own span is not exported.
    /// - Throws: ``CommandFailure`` for an endpoint that is not an `http(s)` URL.
    func installTracing() throws {
        let reader = ConfigReader(provider: EnvironmentVariablesProvider())
        do {
            if let settings = try TracingSettings.read(from: reader, serviceName: "commerce") {
                CommerceTracing.install(settings, logger: Logger(label: "commerce"))
            }
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}

extension OrderPublisher {
    /// A publisher on a connection of its own to the broker of `options`, named
    /// `commerce <command>` in `rabbitmqctl list_connections`.
    /// - Throws: ``CommandFailure`` when the broker cannot be reached or refuses a confirm channel.
    convenience init(_ options: PublishOptions, command: String) throws {
        let address = Setting.redacted(options.broker.resolvedURL)
        let connection: AMQPConnection
        do {
            connection = try AMQPConnection(
                configuration: options.broker.configuration(connectionName: "commerce \(command)"))
        } catch {
            throw CommandFailure("cannot reach RabbitMQ at \(address): \(CommandFailure.describe(error))")
        }
        try self.init(connection: connection, exchange: options.exchange, address: address)
    }
}
