import AMQP
import CommandLineSupport
import FleetOperations

extension DeadLetterSession {
    /// A session on a connection of its own to the broker of `--amqp-url`, named `name` in
    /// `rabbitmqctl list_connections`.
    /// - Throws: ``CommandFailure`` when the broker cannot be reached (with what to try next).
    convenience init(broker: BrokerOptions, name: String) throws {
        let address = Setting.redacted(broker.resolvedURL)
        let connection: AMQPConnection
        do {
            connection = try AMQPConnection(configuration: broker.configuration(connectionName: name))
        } catch {
            throw CommandFailure("cannot reach RabbitMQ at \(address): \(CommandFailure.describe(error))")
        }
        try self.init(connection: connection, address: address)
    }
}
