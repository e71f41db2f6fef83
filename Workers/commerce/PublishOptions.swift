import AMQP
import ArgumentParser
import CommandLineSupport
import FleetOperations
import WorkerRuntime

/// `--amqp-url` and `--exchange`, shared by `commerce place-order` and `commerce cancel-order`.
struct PublishOptions: ParsableArguments {
    @OptionGroup var broker: BrokerOptions

    @Option(help: ArgumentHelp("The topic exchange (the workers' EXCHANGE_NAME).", valueName: "name"))
    var exchange = FleetCatalog.exchange

    func validate() throws {
        guard !exchange.isEmpty, exchange.utf8.count <= 255 else {
            throw ValidationError("--exchange needs a name of 1 to 255 bytes")
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
