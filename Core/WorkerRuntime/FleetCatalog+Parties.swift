import CommerceMessages

extension FleetCatalog {
    /// One party that talks to the broker under an identity of its own: a worker, the operators,
    /// or the upstream systems. This table is who may send what (docs/security.md): the broker
    /// enforces it with a user per party, permissions and topic permissions on the exchange, and
    /// every worker checks the AMQP `user_id` of a delivery against it on arrival
    /// (``SenderPolicy``).
    public struct Party: Sendable, Hashable {
        /// The party's name, as docs/security.md and `commerce setup --dry-run` print it.
        public var name: String
        /// The configuration key that lists the broker users acting as this party
        /// (`identity.paymentWorker`, env `IDENTITY_PAYMENT_WORKER`).
        public var configurationKey: String
        /// The broker users the party has unless configuration says otherwise: the users the local
        /// setup (scripts/services.sh) creates.
        public var defaultUsers: [String]
        /// The routing keys it may publish on the topic exchange (its topic write permission).
        public var publishes: [MessageType]
        /// The routing keys its own queues may bind on the exchange (its topic read permission).
        public var binds: [MessageType]
        /// The worker whose queues it owns, when the party is a worker.
        public var worker: Worker?
        /// Whether it may put a message of any type on a worker's queue through the default
        /// exchange: `commerce dlq replay`, which sends a dead letter back where it failed.
        /// Only the operators may.
        public var replaysDeadLetters: Bool

        /// Every message type a worker accepts from this party on arrival.
        public var mayDeliver: Set<MessageType> {
            replaysDeadLetters ? Set(MessageType.allCases) : Set(publishes)
        }
    }

    /// The configuration key prefix of the parties' broker users.
    public static let identityKeyPrefix = "identity"

    /// A worker as a party: it publishes what it emits and binds what it consumes.
    private static func party(_ worker: Worker, key: String) -> Party {
        Party(
            name: worker.name, configurationKey: "\(identityKeyPrefix).\(key)", defaultUsers: [worker.name],
            publishes: worker.emits, binds: worker.consumes, worker: worker, replaysDeadLetters: false)
    }

    /// The people who run the fleet with the `commerce` tool: they place and cancel orders
    /// (`place-order`, `cancel-order`, `demo`) and replay dead letters, which may be of any type.
    /// `commerce` is the local setup's administrator (it declares topology and holds every
    /// permission, so refusing it on arrival would protect nothing); a deployment lists its
    /// operators' users under `identity.operator` instead.
    public static let operatorParty = Party(
        name: "operator", configurationKey: "\(identityKeyPrefix).operator",
        defaultUsers: ["commerce-operator", "commerce"], publishes: [.orderPlace, .orderCancel],
        binds: [], worker: nil, replaysDeadLetters: true)

    /// Storefronts and checkout APIs: they send the two commands and learn outcomes from a queue
    /// of their own (named `upstream.…`) bound to the terminal events (docs/upstream.md).
    public static let upstreamParty = Party(
        name: "upstream", configurationKey: "\(identityKeyPrefix).upstream", defaultUsers: ["upstream"],
        publishes: [.orderPlace, .orderCancel], binds: [.orderConfirmed, .orderCancelled, .orderRejected],
        worker: nil, replaysDeadLetters: false)

    /// Every party, workers first in the order a message meets them.
    public static let parties: [Party] = [
        party(orderWorker, key: "orderWorker"), party(stockWorker, key: "stockWorker"),
        party(paymentWorker, key: "paymentWorker"), party(notificationWorker, key: "notificationWorker"),
        operatorParty, upstreamParty,
    ]

    /// The party that is `worker`.
    public static func party(of worker: Worker) -> Party? { parties.first { $0.worker == worker } }
}

extension FleetCatalog.Party {
    /// The broker permissions of this party's user on the vhost, as `rabbitmqctl set_permissions`
    /// and `set_topic_permissions` take them: regular expressions over resource names and routing
    /// keys. Built from the table so that they cannot drift from it.
    public struct Permissions: Sendable, Hashable {
        public var configure: String
        public var write: String
        public var read: String
        /// Routing keys it may publish on the exchange.
        public var topicWrite: String
        /// Routing keys its queues may bind on the exchange.
        public var topicRead: String
    }

    /// The permissions for `exchange` and, for a worker, its queue named `<queue><queueSuffix>`
    /// with its retry and dead-letter queues.
    public func permissions(exchange: String = FleetCatalog.exchange, queueSuffix: String = "") -> Permissions {
        let exchangeName = Self.escaped(exchange)
        let topicWrite = Self.alternatives(publishes.map(\.rawValue))
        let topicRead = Self.alternatives(binds.map(\.rawValue))
        if let worker {
            // Its queue, `<queue>.retry.<delay>` and `<queue>.dlq`. The default exchange
            // (`amq.default`) carries its retries and dead letters; the broker cannot say which
            // queue a default-exchange publish may reach, which is why workers also check senders.
            let queues = "\(Self.escaped(worker.queue + queueSuffix))(\\.retry\\.[0-9a-z]+|\\.dlq)?"
            return Permissions(
                configure: "^(\(exchangeName)|\(queues))$", write: "^(\(exchangeName)|amq\\.default|\(queues))$",
                read: "^(\(exchangeName)|\(queues))$", topicWrite: topicWrite, topicRead: topicRead)
        }
        if replaysDeadLetters {
            // Operators read every queue (`dlq list`, `queues`), create none, and write to the
            // exchange (commands) and the default exchange (replays).
            return Permissions(
                configure: "^$", write: "^(\(exchangeName)|amq\\.default)$", read: ".*", topicWrite: topicWrite,
                topicRead: ".*")
        }
        // Upstream: its own `upstream.…` queues, bound to the exchange; no default exchange.
        return Permissions(
            configure: "^upstream\\..+$", write: "^(\(exchangeName)|upstream\\..+)$",
            read: "^(\(exchangeName)|upstream\\..+)$", topicWrite: topicWrite, topicRead: topicRead)
    }

    /// `^(a|b)$` with dots escaped, or `^$` (nothing) for no keys.
    private static func alternatives(_ keys: [String]) -> String {
        keys.isEmpty ? "^$" : "^(\(keys.map(escaped).joined(separator: "|")))$"
    }

    /// `name` as a regular expression matching only itself.
    private static func escaped(_ name: String) -> String {
        var result = ""
        for character in name {
            if "\\^$.|?*+()[]{}".contains(character) { result.append("\\") }
            result.append(character)
        }
        return result
    }
}

extension FleetCatalog {
    /// One broker user to create, with its party and permissions.
    public struct BrokerIdentity: Sendable, Hashable {
        public var user: String
        public var party: Party
        public var permissions: Party.Permissions
    }

    /// The broker users a setup creates: each party's first default user (the operators' is
    /// `commerce-operator`; the administrator `commerce` is made with every permission by the
    /// local setup and is not one of these), with its permissions on `exchange`.
    public static func brokerIdentities(exchange: String = exchange, queueSuffix: String = "") -> [BrokerIdentity] {
        parties.compactMap { party in
            party.defaultUsers.first.map {
                BrokerIdentity(
                    user: $0, party: party, permissions: party.permissions(exchange: exchange, queueSuffix: queueSuffix)
                )
            }
        }
    }
}
