import AMQP
import ArgumentParser

/// `--amqp-url`, shared by every subcommand that talks to RabbitMQ.
public struct BrokerOptions: ParsableArguments {
    public static let defaultURL = "amqp://commerce:commerce@127.0.0.1:5672/%2F"

    @Option(
        name: .customLong("amqp-url"),
        help: ArgumentHelp(
            "RabbitMQ URL(s), comma-separated for a cluster (env AMQP_URL; default \(Setting.shown(defaultURL))).",
            valueName: "url"))
    public var url: String?

    public init() {}

    /// The URL in effect: option, then `AMQP_URL`, then the local default.
    public var resolvedURL: String { Setting.resolve(url, variable: "AMQP_URL", default: Self.defaultURL) }

    public func validate() throws {
        do {
            _ = try AMQPConfiguration(urls: resolvedURL)
        } catch {
            throw ValidationError("invalid RabbitMQ URL '\(Setting.redacted(resolvedURL))': \(error.message)")
        }
    }

    /// The parsed configuration; `connectionName` shows up in `rabbitmqctl list_connections`.
    public func configuration(connectionName: String) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(urls: resolvedURL, connectionName: connectionName)
        // An operator command should fail fast when the broker is not there.
        configuration.connectTimeout = .seconds(5)
        configuration.rpcTimeout = .seconds(15)
        return configuration
    }
}
