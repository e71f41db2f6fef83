import CommerceMessages
import Foundation
import WorkerRuntime

/// The broker users `commerce setup --dry-run` prints: each party of ``FleetCatalog/parties``
/// with what it may send and receive, its permissions, and the `rabbitmqctl` commands that make
/// them (docs/security.md). RabbitMQ creates users only through its CLI or HTTP API, not AMQP,
/// so setup prints the commands for whoever administers the broker; scripts/services.sh runs the
/// same ones for the local broker (config/broker-identities.tsv).
public struct BrokerIdentitiesPlan: Encodable, Sendable {
    public struct Identity: Encodable, Sendable {
        public var party: String
        public var user: String
        /// The configuration key that lists this party's users on the workers.
        public var configurationKey: String
        /// Routing keys it may publish on the exchange.
        public var publishes: [String]
        /// Message types a worker accepts from it on arrival.
        public var accepted: [String]
        public var configure: String
        public var write: String
        public var read: String
        public var topicWrite: String
        public var topicRead: String
    }

    public var exchange: String
    public var identities: [Identity]
    public var commands: [String]

    /// The identities of the fleet on `exchange`, its worker queues named `<worker><queueSuffix>`.
    public init(exchange: String, queueSuffix: String) {
        self.exchange = exchange
        identities = FleetCatalog.brokerIdentities(exchange: exchange, queueSuffix: queueSuffix).map { identity in
            let p = identity.permissions
            return Identity(
                party: identity.party.name, user: identity.user, configurationKey: identity.party.configurationKey,
                publishes: identity.party.publishes.map(\.rawValue),
                accepted: MessageType.allCases.filter(identity.party.mayDeliver.contains).map(\.rawValue),
                configure: p.configure, write: p.write,
                read: p.read, topicWrite: p.topicWrite, topicRead: p.topicRead)
        }
        commands = identities.flatMap { identity in
            [
                "rabbitmqctl add_user \(identity.user) \"$PASSWORD\"",
                "rabbitmqctl set_permissions -p / \(identity.user) \(Self.quoted(identity.configure)) "
                    + "\(Self.quoted(identity.write)) \(Self.quoted(identity.read))",
                "rabbitmqctl set_topic_permissions -p / \(identity.user) \(Self.quoted(exchange)) "
                    + "\(Self.quoted(identity.topicWrite)) \(Self.quoted(identity.topicRead))",
            ]
        }
    }

    /// `text` in single quotes for a POSIX shell.
    private static func quoted(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }
}
