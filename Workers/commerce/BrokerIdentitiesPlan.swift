import CommerceMessages
import Foundation
import WorkerRuntime

/// The broker users `commerce setup --dry-run` prints: each party of ``FleetCatalog/parties``
/// with what it may send and receive, its permissions, and the `rabbitmqctl` commands that make
/// them (docs/security.md). RabbitMQ creates users only through its CLI or HTTP API, not AMQP,
/// so setup prints the commands for whoever administers the broker; scripts/services.sh runs the
/// same ones for the local broker (config/broker-identities.tsv).
struct BrokerIdentitiesPlan: Encodable {
    struct Identity: Encodable {
        var party: String
        var user: String
        /// The configuration key that lists this party's users on the workers.
        var configurationKey: String
        /// Routing keys it may publish on the exchange.
        var publishes: [String]
        /// Message types a worker accepts from it on arrival.
        var accepted: [String]
        var configure: String
        var write: String
        var read: String
        var topicWrite: String
        var topicRead: String
    }

    var exchange: String
    var identities: [Identity]
    var commands: [String]

    init(exchange: String, queueSuffix: String) {
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

    func printText() {
        print("Broker identities on exchange \(exchange) (docs/security.md):")
        let rows = identities.map { identity in
            [
                identity.party, identity.user,
                identity.publishes.isEmpty ? "—" : identity.publishes.joined(separator: " "),
                identity.accepted.count == FleetCatalog.contractTypes.count
                    ? "every type (dead-letter replay)"
                    : identity.accepted.isEmpty ? "—" : identity.accepted.joined(separator: " "),
            ]
        }
        let headers = ["party", "user", "publishes on the exchange", "accepted by workers from it"]
        let widths = headers.indices.map { column in
            ([headers[column]] + rows.map { $0[column] }).map(\.count).max() ?? 0
        }
        for row in [headers] + rows {
            let line = row.indices.map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                .joined(separator: "  ")
            print("  " + line.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression))
        }
        print("Commands for the broker's administrator (PASSWORD: each user's own secret):")
        for command in commands { print("  \(command)") }
    }
}
