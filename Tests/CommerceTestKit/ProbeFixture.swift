import AMQP
import Foundation
import Postgres
import Testing
import WorkerRuntime

/// Everything one runtime test needs, with names of its own: an exchange, the probe-worker's
/// queue and its ``topology``, a database, and a queue bound to `probe.done` to watch what the
/// worker emits.
public final class ProbeFixture: TestFixture {
    public let queue: String
    public let database: String
    public let doneQueue: String
    /// The broker objects of the fixture's probe-worker (short retry delays: 300 ms, 600 ms).
    public let topology: Topology
    public let databaseURL: String
    private var workerDatabase: PostgresConnection?

    public init() throws {
        let suffix = TestServers.uniqueSuffix()
        queue = "probe-\(suffix)"
        database = "probe_\(suffix)"
        doneQueue = "probe-done-\(suffix)"
        let exchange = "test-\(suffix)"
        topology = Topology(
            exchange: exchange, queue: queue, bindings: ["probe.work"],
            retryDelays: [.milliseconds(300), .milliseconds(600)])
        databaseURL = TestServers.postgresURL(database: database)
        try super.init(suffix: suffix, exchange: exchange, connectionName: "runtime-test")
        track(topology)
        try declareWatchQueue(doneQueue, routingKeys: ["probe.done"])
        _ = try databaseURL(named: database)
    }

    public override func reconnect() throws {
        try super.reconnect()
        workerDatabase = nil
    }

    deinit {
        workerDatabase?.close()
    }

    /// Declares the probe-worker's ``topology`` as the worker would, so that messages can be
    /// queued before a worker starts.
    public func declareTopology() throws {
        let channel = try amqp.openChannel()
        try topology.declare(on: amqp, channel: channel)
    }

    /// Starts a probe worker on this fixture's names; `environment` overrides the defaults, and an
    /// empty value removes one.
    @discardableResult
    public func startWorker(_ environment: [String: String] = [:], waitForReady: Bool = true) throws -> WorkerProcess {
        let port = WorkerProcess.freePort()
        var settings: [String: String] = [
            "AMQP_URL": TestServers.amqpURL, "DATABASE_URL": databaseURL, "QUEUE_NAME": queue,
            "EXCHANGE_NAME": exchange, "QUEUE_BINDINGS": "probe.work", "QUEUE_RETRY_DELAYS_MS": "300,600",
            "CONSUMER_MAX_ATTEMPTS": "3", "HTTP_PORT": "\(port)", "OUTBOX_RELAY_INTERVAL_MS": "500",
            "OUTBOX_RELAY_GRACE_MS": "1000", "LOG_LEVEL": "info", "COMMERCE_CONFIG": "",
        ]
        settings.merge(environment) { $1 }
        settings = settings.filter { !$0.value.isEmpty }
        return try startProcess(
            "probe-worker", settings: settings, httpPort: port, name: "probe-\(suffix)-\(workers.count)",
            readyTimeout: waitForReady ? .seconds(20) : nil)
    }

    // MARK: - Publishing

    /// One message for the worker. `nil` fields are left out of the AMQP properties.
    public struct Message: Sendable {
        public var messageID: String? = UUID().uuidString.lowercased()
        public var body: [UInt8]
        public var contentType: String? = "application/json"
        public var type: String? = "probe.work"
        public var correlationID = "order-\(UUID().uuidString.prefix(8).lowercased())"
        public var headers: AMQPTable = [:]

        public init(
            messageID: String? = UUID().uuidString.lowercased(), body: [UInt8],
            contentType: String? = "application/json", type: String? = "probe.work",
            correlationID: String = "order-\(UUID().uuidString.prefix(8).lowercased())", headers: AMQPTable = [:]
        ) {
            self.messageID = messageID
            self.body = body
            self.contentType = contentType
            self.type = type
            self.correlationID = correlationID
            self.headers = headers
        }

        public static func work(_ json: String, id: String = UUID().uuidString.lowercased()) -> Message {
            Message(messageID: id, body: Array(json.utf8))
        }
    }

    /// Publishes with confirms to the fixture's exchange (routing key `probe.work`), or straight to
    /// the worker's queue with `toQueue`.
    public func publish(_ messages: [Message], toQueue: Bool = false) throws {
        for chunk in stride(from: 0, to: messages.count, by: 500).map({ messages[$0..<min($0 + 500, messages.count)] })
        {
            for message in chunk {
                let properties = AMQPProperties(
                    contentType: message.contentType, headers: message.headers, deliveryMode: 2,
                    correlationID: message.correlationID,
                    messageID: message.messageID, timestamp: UInt64(Date().timeIntervalSince1970), type: message.type,
                    appID: "runtime-test")
                try amqp.publish(
                    channel: channel, exchange: toQueue ? "" : exchange, routingKey: toQueue ? queue : "probe.work",
                    properties: properties, body: message.body)
            }
            try confirmPublishes()
        }
    }

    // MARK: - Observing

    private func workerDB() throws -> PostgresConnection {
        if let workerDatabase, workerDatabase.isConnected { return workerDatabase }
        let connection = try TestServers.postgres(url: databaseURL)
        workerDatabase = connection
        return connection
    }

    /// Number of effect rows per message id.
    public func effects() throws -> [String: Int] {
        let database = try workerDB()
        let exists = try database.query("select to_regclass('probe_effects') is not null as present").rows[0].bool(
            "present")
        guard exists else { return [:] }
        var counts: [String: Int] = [:]
        for row in try database.query("select message_id, count(*) as n from probe_effects group by message_id").rows {
            counts[try row.string("message_id")] = Int(try row.int("n"))
        }
        return counts
    }

    /// Total effect rows.
    public func effectRows() throws -> Int {
        try effects().values.reduce(0, +)
    }

    public func effectAttempts(_ messageID: String) throws -> [Int64] {
        try workerDB().query("select attempts from probe_effects where message_id = $1", [.text(messageID)]).rows.map {
            try $0.int("attempts")
        }
    }

    /// Waits until the total number of effect rows reaches `count`.
    public func waitForEffects(_ count: Int, timeout: Duration = .seconds(60)) throws {
        try waitUntil("\(count) effect rows", timeout: timeout, { try effectRows() }) { $0 >= count }
    }
}
