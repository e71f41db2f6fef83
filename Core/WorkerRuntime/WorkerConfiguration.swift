import AMQP
import CommerceSupport
import CommerceTracing
import Configuration
import Foundation
import Postgres
import Resilience

/// Everything a worker needs to run, with the defaults of a local development machine.
///
/// Core never reads the environment: executables build this from `config/<worker>.json` and
/// environment variables with ``init(reader:appID:defaultQueue:defaultBindings:)``, where every
/// key can be overridden by an environment variable (`amqp.url` → `AMQP_URL`,
/// `consumer.batchSize` → `CONSUMER_BATCH_SIZE`).
public struct WorkerConfiguration: Sendable {
    /// The emitting application's name: `app_id` of outgoing messages, log label, `x-failed-by`.
    public var appID: String
    /// The deployed version, reported on `/metrics` (`commerce_worker_info`): the `worker.version`
    /// key (env `WORKER_VERSION`), else `dev`.
    public var version: String
    /// Who may send each message type, by broker user: checked on every fresh delivery, a
    /// forbidden sender's message dead-lettered as `forbidden_sender` (docs/security.md). The
    /// catalog's parties with their default users unless the `identity.*` keys say otherwise.
    public var senders: SenderPolicy
    /// The inbox's consumer name (defaults to the queue name).
    public var consumerName: String
    public var amqp: AMQPConfiguration
    /// The worker's own database: a libpq URL for a ``MessageHandler``, a `mongodb://` URI for a
    /// ``DocumentHandler``. Never logged.
    public var databaseURL: String
    /// MongoDB database name, for a ``DocumentHandler``.
    public var documentDatabase: String
    /// How PostgreSQL plans the store's statements: `database.planning`, `generic` (the default:
    /// one plan per statement, sequential scans priced out), `auto` or `per-execution`
    /// (docs/architecture.md, "Planning").
    public var statementPlanning: StatementPlanning
    /// Connecting to the database, TLS and login included (`database.connectTimeoutMs`):
    /// PostgreSQL's `connect_timeout` (whole seconds, at least 2), MongoDB's `connectTimeoutMS`.
    public var databaseConnectTimeout: Duration
    /// Client-side deadline of one round trip to the database (`database.roundTripTimeoutMs`):
    /// past it, a PostgreSQL connection is dropped and the consumer pauses for an outage
    /// (``PostgresConnection/Timeouts/roundTrip``, also its `tcp_user_timeout`); MongoDB's
    /// `socketTimeoutMS`. This is what catches a server that stops answering without closing
    /// the connection.
    public var databaseRoundTripTimeout: Duration
    /// PostgreSQL's server-side `statement_timeout` for the worker's sessions
    /// (`database.statementTimeoutMs`), unless the role, the database or the URL's `options`
    /// set one: a slow statement is cancelled and fails alone, before the round-trip deadline
    /// drops the connection. Below ``databaseRoundTripTimeout``.
    public var databaseStatementTimeout: Duration
    /// How long a MongoDB operation waits for a usable server (`database.serverSelectionTimeoutMs`).
    public var databaseServerSelectionTimeout: Duration
    /// Longest wait of a consumer for its broker connection's answer to a publish, an ack or a
    /// consume (`consumer.brokerReplyTimeoutMs`): past it the connection is dropped, so a write
    /// stuck on a broker that stopped reading cannot hold the consumer. Above
    /// ``publishTimeout``, which bounds the wait for confirms itself.
    public var brokerReplyTimeout: Duration
    public var topology: Topology
    /// Declare the exchange and queues at start and on every reconnect (on by default; off for a
    /// least-privilege deployment where an operator declares them with `commerce setup`).
    public var declareTopology: Bool
    /// Unacknowledged deliveries the broker may push to one consumer (`basic.qos`).
    public var prefetch: UInt16
    /// Consumers (each with its own broker and database connection and two threads).
    public var concurrency: Int
    /// Most deliveries handled in one transaction. 1 turns natural batching off.
    public var maximumBatchSize: Int
    /// Attempts of a transiently failing message before it is dead-lettered.
    public var maximumAttempts: Int
    /// How many calls of a handler's phase outside the transaction run at once
    /// (``MessageHandler/prepare(_:envelope:attempts:)``).
    public var prepareConcurrency: Int
    /// Bodies larger than this are dead-lettered unread.
    public var maximumBodySize: Int
    /// How long to wait for publisher confirms (and for a broker alarm to clear).
    public var publishTimeout: Duration
    /// How often the outbox relay looks for rows nobody published.
    public var relayInterval: Duration
    /// Unpublished outbox rows of a consumer that is gone are relayed by another once older than
    /// this (a live consumer's rows are only ever its own to publish).
    public var relayGrace: Duration
    /// Failed publishes of one outbox row after which the relay parks it (stops publishing it
    /// until `commerce outbox retry`), so that a row that can never be delivered does not cost a
    /// publish for ever.
    public var outboxParkAfterAttempts: Int
    /// The longest wait between two publishes of a failing outbox row (the first is
    /// ``relayInterval``, doubled per failure).
    public var outboxRetryMaxDelay: Duration
    /// How long processed message ids stay in the inbox. A copy of a message redelivered later
    /// than this would take effect again, so keep it well above the longest redelivery delay
    /// (retry tiers, an outage, a replay from the DLQ).
    public var inboxRetention: Duration
    /// How often retention runs.
    public var retentionInterval: Duration
    /// Whether every message in and out, and every failure, is recorded in the store's
    /// `message_journal` for `commerce order show` (docs/architecture.md, "The message journal").
    public var journalEnabled: Bool
    /// How long journal rows are kept (retention deletes older ones with the inbox's).
    public var journalRetention: Duration
    /// Backoff between reconnect attempts to the broker or the database.
    public var reconnectDelays: Backoff
    /// Port of the `/health` and `/metrics` endpoint on `httpHost`; `nil` turns it off, 0 picks one.
    public var httpPort: Int?
    /// The address the endpoint binds: an IPv4 or IPv6 literal (`0.0.0.0`, `::` for every
    /// interface).
    public var httpHost: String
    /// A batch running longer than this makes the worker not ready (`/health/ready`).
    public var batchDeadline: Duration
    /// A consumer loop stuck this long in one working phase makes the worker not live
    /// (`/health/live`); keep it above every other deadline, so that only a wedged call trips it.
    public var liveDeadline: Duration
    /// Time allowed for a graceful stop. After it, in-flight work is abandoned: the process exits
    /// non-zero, uncommitted transactions roll back and unacknowledged deliveries go back to the
    /// queue (nothing is acknowledged that did not commit).
    public var shutdownTimeout: Duration
    /// Random per process (8 hex digits): tells this copy apart from others of the same worker in
    /// its logs, its presence announcements and `commerce status`.
    public var copyID: String
    /// How often the copy announces itself on the presence stream (`presence.intervalMs`, 0 = never;
    /// ``PresenceAnnouncement``), so that `commerce status` finds it without a list of addresses.
    /// Read from configuration it is 10 s by default; a configuration built in code has none.
    public var presenceInterval: Duration?
    /// The presence stream (`presence.stream`), by default `<exchange>.presence`.
    public var presenceStream: String?
    /// The host name or address the copy announces for its `/metrics` and `/health`
    /// (`presence.advertisedHost`): by default `http.host`, or the machine's host name when that
    /// is every interface (`0.0.0.0`, `::`). A pod sets its IP here.
    public var advertisedHost: String?
    /// Where spans go (docs/operations.md, "Tracing"): the `tracing.*` keys, `nil` (the default)
    /// when no OTLP endpoint is configured.
    public var tracing: TracingSettings?
    /// The tracer the consumers start their spans with; installed by the executable from
    /// ``tracing`` (`WorkerApplication`). `nil`: tracing is off, and messages only forward the
    /// trace context they arrived with.
    public var tracer: CommerceTracer?
    /// Fault injection for crash tests: called on the consumer thread right after a batch has
    /// committed and before its outbox is published, with the ids of the messages that took
    /// effect. `nil` (the default) in every real worker.
    public var afterCommit: (@Sendable (_ messageIDs: [String]) -> Void)?
    /// Test hook: called with the ids of the messages whose outgoing messages and parked copies
    /// the broker confirmed, just before they are acknowledged (fault injection, crash tests).
    public var beforeAck: (@Sendable (_ messageIDs: [String]) -> Void)?

    public init(
        appID: String, queue: String, bindings: [String], amqp: AMQPConfiguration = AMQPConfiguration(),
        databaseURL: String
    ) {
        self.appID = appID
        version = "dev"
        consumerName = queue
        self.amqp = amqp
        self.databaseURL = databaseURL
        documentDatabase = "commerce"
        topology = Topology(queue: queue, bindings: bindings)
        declareTopology = true
        prefetch = 128
        concurrency = 1
        maximumBatchSize = 64
        maximumAttempts = 5
        prepareConcurrency = 16
        maximumBodySize = 256 * 1024
        publishTimeout = .seconds(30)
        relayInterval = .seconds(5)
        relayGrace = .seconds(10)
        outboxParkAfterAttempts = 10
        outboxRetryMaxDelay = .seconds(300)
        inboxRetention = .seconds(7 * 24 * 3600)
        retentionInterval = .seconds(600)
        journalEnabled = true
        statementPlanning = .generic
        databaseConnectTimeout = .seconds(10)
        databaseRoundTripTimeout = .seconds(30)
        databaseStatementTimeout = .seconds(20)
        databaseServerSelectionTimeout = .seconds(5)
        brokerReplyTimeout = .seconds(60)
        journalRetention = .seconds(7 * 24 * 3600)
        reconnectDelays = Backoff(initialDelay: .milliseconds(200), maximumDelay: .seconds(10), jitter: .equal)
        httpPort = nil
        httpHost = "127.0.0.1"
        batchDeadline = .seconds(60)
        liveDeadline = .seconds(300)
        shutdownTimeout = .seconds(30)
        senders = SenderPolicy()
        copyID = String(UUID().uuidString.lowercased().prefix(8))
        presenceInterval = nil
    }

    /// The stream this copy announces itself on.
    public var presenceStreamName: String { presenceStream ?? PresenceStream.name(exchange: topology.exchange) }

    /// Reads the configuration. Keys (each also an environment variable, see the type's docs):
    /// `amqp.url` (comma-separated list, secret), `amqp.endpointOrder` (`random`|`listed`),
    /// `amqp.heartbeat`, `amqp.tls.caFile`,
    /// `amqp.tls.certificateFile`, `amqp.tls.keyFile`, `amqp.tls.verifyPeer`,
    /// `amqp.tls.verifyHostname` (with an `amqps://` URL), `amqp.rpcTimeoutMs`, `amqp.writeTimeoutMs`,
    /// `database.url` (secret), `database.name` (MongoDB only), `database.planning` (PostgreSQL
    /// only), `database.connectTimeoutMs`, `database.roundTripTimeoutMs`,
    /// `database.statementTimeoutMs` (PostgreSQL only), `database.serverSelectionTimeoutMs`
    /// (MongoDB only), `exchange.name`,
    /// `queue.name`, `queue.bindings`, `queue.type` (`quorum`|`classic`), `queue.retryDelaysMs`,
    /// `queue.deliveryLimit`, `queue.quorumInitialGroupSize` (unset: the broker's default), `queue.declare`, `consumer.prefetch`, `consumer.concurrency`,
    /// `consumer.batchSize`, `consumer.maxAttempts`, `consumer.prepareConcurrency`, `consumer.maxBodyBytes`,
    /// `consumer.publishTimeoutMs`, `consumer.brokerReplyTimeoutMs`, `outbox.relayIntervalMs`, `outbox.relayGraceMs`,
    /// `outbox.parkAfterAttempts` (10), `outbox.retryMaxDelayMs` (5 min),
    /// `inbox.retentionMs` (7 days), `retention.intervalMs` (10 min), `journal.enabled` (true),
    /// `journal.retentionMs` (7 days),
    /// `http.port` (-1 = off), `http.host`, `health.batchDeadlineMs`, `health.liveDeadlineMs`,
    /// `shutdown.timeoutMs`, `presence.intervalMs` (10 s, 0 = off), `presence.stream`,
    /// `presence.advertisedHost`, the `tracing.*` keys (``TracingSettings/read(from:serviceName:)``),
    /// and for each party of
    /// ``FleetCatalog/parties`` the broker users acting as it (comma-separated; default the
    /// party's ``FleetCatalog/Party/defaultUsers``): `identity.orderWorker`, `identity.stockWorker`,
    /// `identity.paymentWorker`, `identity.notificationWorker`, `identity.operator`, `identity.upstream`.
    /// - Throws: ``WorkerConfigurationError`` naming the key of a missing or invalid value.
    public init(reader: ConfigReader, appID: String, defaultQueue: String, defaultBindings: [String]) throws {
        let amqpURL = reader.string(
            forKey: "amqp.url", isSecret: true, default: "amqp://commerce:commerce@127.0.0.1:5672/%2F")
        var amqp: AMQPConfiguration
        do {
            amqp = try AMQPConfiguration(urls: amqpURL, connectionName: "\(appID)@\(ProcessInfo.processInfo.hostName)")
        } catch {
            throw WorkerConfigurationError(key: "amqp.url", problem: error.message)
        }
        amqp.heartbeat = reader.int(forKey: "amqp.heartbeat", default: amqp.heartbeat)
        let order = reader.string(forKey: "amqp.endpointOrder", default: "random")
        guard let endpointOrder = AMQPConfiguration.EndpointOrder(rawValue: order) else {
            throw WorkerConfigurationError(
                key: "amqp.endpointOrder", problem: "must be 'random' or 'listed', not '\(order)'")
        }
        amqp.endpointOrder = endpointOrder
        amqp.tls = try Self.tls(reader, url: amqp.tls)
        amqp.rpcTimeout = .milliseconds(try Self.positive(reader, "amqp.rpcTimeoutMs", 30_000))
        amqp.writeTimeout = .milliseconds(try Self.positive(reader, "amqp.writeTimeoutMs", 30_000))
        guard let databaseURL = reader.string(forKey: "database.url", isSecret: true) else {
            throw WorkerConfigurationError(key: "database.url", problem: "is required (env DATABASE_URL)")
        }
        let queue = reader.string(forKey: "queue.name", default: defaultQueue)
        self.init(
            appID: appID, queue: queue,
            bindings: reader.stringArray(forKey: "queue.bindings", default: defaultBindings),
            amqp: amqp, databaseURL: databaseURL)
        let type = reader.string(forKey: "queue.type", default: "quorum")
        guard let queueType = Topology.QueueType(rawValue: type) else {
            throw WorkerConfigurationError(key: "queue.type", problem: "must be 'quorum' or 'classic', not '\(type)'")
        }
        topology.queueType = queueType
        topology.exchange = reader.string(forKey: "exchange.name", default: topology.exchange)
        documentDatabase = reader.string(forKey: "database.name", default: documentDatabase)
        let planning = reader.string(forKey: "database.planning", default: "generic")
        guard let statementPlanning = StatementPlanning(name: planning) else {
            throw WorkerConfigurationError(
                key: "database.planning", problem: "must be 'generic', 'auto' or 'per-execution', not '\(planning)'")
        }
        self.statementPlanning = statementPlanning
        databaseConnectTimeout = .milliseconds(try positive(reader, "database.connectTimeoutMs", 10_000))
        databaseRoundTripTimeout = .milliseconds(try positive(reader, "database.roundTripTimeoutMs", 30_000))
        databaseStatementTimeout = .milliseconds(try positive(reader, "database.statementTimeoutMs", 20_000))
        guard databaseStatementTimeout < databaseRoundTripTimeout else {
            throw WorkerConfigurationError(
                key: "database.statementTimeoutMs",
                problem:
                    "must be below database.roundTripTimeoutMs (the server cancels a slow statement before the client drops the connection)"
            )
        }
        databaseServerSelectionTimeout = .milliseconds(
            try positive(reader, "database.serverSelectionTimeoutMs", 5_000))
        let delays = reader.intArray(forKey: "queue.retryDelaysMs", default: [1000, 5000, 30000])
        guard !delays.isEmpty, delays.allSatisfy({ $0 > 0 }) else {
            throw WorkerConfigurationError(key: "queue.retryDelaysMs", problem: "needs one or more positive delays")
        }
        topology.retryDelays = delays.map { .milliseconds($0) }
        topology.deliveryLimit = reader.int(forKey: "queue.deliveryLimit", default: topology.deliveryLimit)
        if let size = reader.int(forKey: "queue.quorumInitialGroupSize") {
            guard size > 0 else {
                throw WorkerConfigurationError(
                    key: "queue.quorumInitialGroupSize", problem: "must be a positive number of nodes, not \(size)")
            }
            topology.quorumInitialGroupSize = size
        }
        declareTopology = reader.bool(forKey: "queue.declare", default: true)
        prefetch = UInt16(clamping: try positive(reader, "consumer.prefetch", Int(prefetch)))
        concurrency = try positive(reader, "consumer.concurrency", concurrency)
        maximumBatchSize = try positive(reader, "consumer.batchSize", maximumBatchSize)
        maximumAttempts = try positive(reader, "consumer.maxAttempts", maximumAttempts)
        prepareConcurrency = try positive(reader, "consumer.prepareConcurrency", prepareConcurrency)
        maximumBodySize = try positive(reader, "consumer.maxBodyBytes", maximumBodySize)
        publishTimeout = .milliseconds(try positive(reader, "consumer.publishTimeoutMs", 30_000))
        brokerReplyTimeout = .milliseconds(try positive(reader, "consumer.brokerReplyTimeoutMs", 60_000))
        guard brokerReplyTimeout > publishTimeout else {
            throw WorkerConfigurationError(
                key: "consumer.brokerReplyTimeoutMs",
                problem: "must be above consumer.publishTimeoutMs (the wait for confirms runs inside it)")
        }
        relayInterval = .milliseconds(try positive(reader, "outbox.relayIntervalMs", 5_000))
        relayGrace = .milliseconds(reader.int(forKey: "outbox.relayGraceMs", default: 10_000))
        outboxParkAfterAttempts = try positive(reader, "outbox.parkAfterAttempts", outboxParkAfterAttempts)
        outboxRetryMaxDelay = .milliseconds(try positive(reader, "outbox.retryMaxDelayMs", 300_000))
        inboxRetention = .milliseconds(try positive(reader, "inbox.retentionMs", 7 * 24 * 3_600_000))
        retentionInterval = .milliseconds(try positive(reader, "retention.intervalMs", 600_000))
        journalEnabled = reader.bool(forKey: "journal.enabled", default: true)
        journalRetention = .milliseconds(try positive(reader, "journal.retentionMs", 7 * 24 * 3_600_000))
        let port = reader.int(forKey: "http.port", default: -1)
        httpPort = port < 0 ? nil : port
        httpHost = reader.string(forKey: "http.host", default: httpHost)
        batchDeadline = .milliseconds(try positive(reader, "health.batchDeadlineMs", 60_000))
        liveDeadline = .milliseconds(try positive(reader, "health.liveDeadlineMs", 300_000))
        version = reader.string(forKey: "worker.version", default: version)
        shutdownTimeout = .milliseconds(try positive(reader, "shutdown.timeoutMs", 30_000))
        let presence = reader.int(forKey: "presence.intervalMs", default: 10_000)
        guard presence >= 0 else {
            throw WorkerConfigurationError(
                key: "presence.intervalMs", problem: "must be 0 (off) or positive, not \(presence)")
        }
        presenceInterval = presence == 0 ? nil : .milliseconds(presence)
        presenceStream = reader.string(forKey: "presence.stream")
        if let stream = presenceStream, stream.isEmpty || stream.utf8.count > 255 {
            throw WorkerConfigurationError(key: "presence.stream", problem: "needs a queue name of 1 to 255 bytes")
        }
        advertisedHost = reader.string(forKey: "presence.advertisedHost")
        tracing = try TracingSettings.read(from: reader, serviceName: appID)
        var users: [String: [String]] = [:]
        for party in FleetCatalog.parties {
            let names = reader.stringArray(forKey: ConfigKey(party.configurationKey), default: party.defaultUsers)
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !names.isEmpty else {
                throw WorkerConfigurationError(key: party.configurationKey, problem: "needs one or more broker users")
            }
            users[party.name] = names
        }
        senders = SenderPolicy(users: users)
    }

    /// The `amqp.tls.*` keys over what the URL says (docs/security.md, "TLS"): `caFile`,
    /// `certificateFile`, `keyFile`, `verifyPeer`, `verifyHostname`. TLS is on when the URL is
    /// `amqps://`; a TLS key with an `amqp://` URL is an error rather than a connection in clear
    /// that looks protected. The files are checked here, so that a missing one stops the worker
    /// at start.
    private static func tls(_ reader: ConfigReader, url: AMQPConfiguration.TLS?) throws -> AMQPConfiguration.TLS? {
        let keys: [ConfigKey] = [
            "amqp.tls.caFile", "amqp.tls.certificateFile", "amqp.tls.keyFile", "amqp.tls.verifyPeer",
            "amqp.tls.verifyHostname",
        ]
        guard var tls = url else {
            if let key = keys.first(where: { reader.string(forKey: $0) != nil }) {
                throw WorkerConfigurationError(
                    key: "\(key)", problem: "is a TLS setting, but amqp.url is amqp:// (use amqps://)")
            }
            return nil
        }
        tls.caCertificatePath = reader.string(forKey: "amqp.tls.caFile") ?? tls.caCertificatePath
        tls.certificatePath = reader.string(forKey: "amqp.tls.certificateFile") ?? tls.certificatePath
        tls.keyPath = reader.string(forKey: "amqp.tls.keyFile") ?? tls.keyPath
        tls.verifyPeer = reader.bool(forKey: "amqp.tls.verifyPeer", default: tls.verifyPeer)
        tls.verifyHostname = reader.bool(forKey: "amqp.tls.verifyHostname", default: tls.verifyHostname)
        do {
            try tls.validate()
        } catch {
            throw WorkerConfigurationError(key: "amqp.tls", problem: error.message)
        }
        return tls
    }

    /// The deadlines of the worker's PostgreSQL sessions (docs/architecture.md, "Deadlines").
    public var postgresTimeouts: PostgresConnection.Timeouts {
        PostgresConnection.Timeouts(
            connect: databaseConnectTimeout, roundTrip: databaseRoundTripTimeout, statement: databaseStatementTimeout,
            tcpUser: databaseRoundTripTimeout)
    }

    /// The retry and dead-letter rules these settings make.
    public var recoverability: RecoverabilityPolicy {
        RecoverabilityPolicy(maximumAttempts: maximumAttempts, retryDelays: topology.retryDelays)
    }

    private func positive(_ reader: ConfigReader, _ key: ConfigKey, _ fallback: Int) throws -> Int {
        try Self.positive(reader, key, fallback)
    }

    private static func positive(_ reader: ConfigReader, _ key: ConfigKey, _ fallback: Int) throws -> Int {
        let value = reader.int(forKey: key, default: fallback)
        guard value > 0 else {
            throw WorkerConfigurationError(key: "\(key)", problem: "must be positive, not \(value)")
        }
        return value
    }
}

/// A configuration value is missing or wrong.
public struct WorkerConfigurationError: Error, CustomStringConvertible {
    public var key: String
    public var problem: String
    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }
    public var description: String { "configuration '\(key)' \(problem)" }
}
