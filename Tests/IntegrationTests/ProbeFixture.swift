import AMQP
import Foundation
import Glibc
import LocalProcess
import Postgres
import Testing

/// A probe-worker process started by a test, with its log in a file and its HTTP endpoint on
/// `httpPort`; a thin layer over ``ChildProcess`` that keeps the names the tests use.
final class WorkerProcess {
    let process: ChildProcess
    let httpPort: Int

    init(environment: [String: String], httpPort: Int, name: String, executable: String = "probe-worker") throws {
        self.httpPort = httpPort
        // A working directory without config/ so only the environment configures the worker.
        process = try ChildProcess(
            executable: ProbeFixture.binary(executable),
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
            workingDirectory: FileManager.default.temporaryDirectory,
            logURL: FileManager.default.temporaryDirectory.appendingPathComponent("\(name).log"))
    }

    var logURL: URL { process.logURL }
    var log: String { process.log }

    func terminate() { process.terminate() }
    func kill9() { process.kill() }

    /// Waits for the process to exit and returns its status (or nil after `timeout`).
    func waitForExit(timeout: Duration = .seconds(60)) -> Int32? { process.waitForExit(timeout: timeout) }

    /// GET `path` on the worker's HTTP endpoint: (status code, body), or nil if it does not answer.
    func http(_ path: String) -> (Int, String)? { LoopbackHTTP.get(port: httpPort, path: path) }
}

/// Everything one runtime test needs, with names of its own: an exchange, the worker's queue,
/// a database, and a queue bound to `probe.done` to watch what the worker emits.
final class ProbeFixture {
    let suffix: String
    let exchange: String
    let queue: String
    let database: String
    let doneQueue: String
    private(set) var amqp: AMQPConnection
    private(set) var channel: UInt16
    private(set) var admin: PostgresConnection
    private(set) var workerDatabase: PostgresConnection?
    private var workers: [WorkerProcess] = []

    init() throws {
        let suffix = UUID().uuidString.prefix(8).lowercased()
        self.suffix = suffix
        exchange = "test-\(suffix)"
        queue = "probe-\(suffix)"
        database = "probe_\(suffix)"
        doneQueue = "probe-done-\(suffix)"
        amqp = try TestServers.amqp("runtime-test")
        channel = try amqp.openChannel()
        try amqp.enableConfirms(channel: channel)
        try amqp.declareExchange(channel: channel, name: exchange, type: "topic", durable: true)
        try amqp.declareQueue(channel: channel, name: doneQueue, arguments: ["x-queue-type": "quorum"])
        try amqp.bindQueue(channel: channel, queue: doneQueue, exchange: exchange, routingKey: "probe.done")
        admin = try TestServers.postgres()
        // Generated name, never input: identifiers cannot be statement parameters.
        try admin.query("create database \(database)")
    }

    /// New broker and database connections for the test itself, after a server restart.
    func reconnect() throws {
        amqp = try TestServers.amqp("runtime-test")
        channel = try amqp.openChannel()
        try amqp.enableConfirms(channel: channel)
        admin = try TestServers.postgres()
        workerDatabase = nil
    }

    deinit {
        for worker in workers where worker.process.isRunning { worker.kill9() }
        for worker in workers { _ = worker.waitForExit(timeout: .seconds(10)) }
        workerDatabase?.close()
        if let control = try? amqp.openChannel() {
            for name in [queue, queue + ".dlq", doneQueue] + (0..<3).map({ "\(queue).retry.\($0)" }) {
                _ = try? amqp.deleteQueue(channel: control, name: name)
            }
            for delay in ["300ms", "600ms", "1s", "5s", "30s"] {
                _ = try? amqp.deleteQueue(channel: control, name: "\(queue).retry.\(delay)")
            }
            _ = try? amqp.deleteExchange(channel: control, name: exchange)
        }
        _ = try? admin.query("drop database if exists \(database) with (force)")
    }

    var databaseURL: String {
        "postgresql://commerce:commerce@127.0.0.1:5432/\(database)?connect_timeout=5"
    }

    /// The executable `name` built beside the tests.
    static func binary(_ name: String) -> URL {
        if let directory = ProcessInfo.processInfo.environment["COMMERCE_BIN_PATH"] {
            return URL(fileURLWithPath: directory).appendingPathComponent(name)
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/\(name)")
    }

    /// Starts a probe worker on this fixture's names; `environment` overrides the defaults, and an
    /// empty value removes one.
    @discardableResult
    func startWorker(_ environment: [String: String] = [:], waitForReady: Bool = true) throws -> WorkerProcess {
        let binary = Self.binary("probe-worker")
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            Issue.record("no probe-worker at \(binary.path): build it with `swift build` (scripts/test.sh does)")
            throw CocoaError(.fileNoSuchFile)
        }
        let port = Self.freePort()
        var settings: [String: String] = [
            "AMQP_URL": TestServers.amqpURL, "DATABASE_URL": databaseURL, "QUEUE_NAME": queue,
            "EXCHANGE_NAME": exchange, "QUEUE_BINDINGS": "probe.work", "QUEUE_RETRY_DELAYS_MS": "300,600",
            "CONSUMER_MAX_ATTEMPTS": "3", "HTTP_PORT": "\(port)", "OUTBOX_RELAY_INTERVAL_MS": "500",
            "OUTBOX_RELAY_GRACE_MS": "1000", "LOG_LEVEL": "info", "COMMERCE_CONFIG": "",
        ]
        settings.merge(environment) { $1 }
        settings = settings.filter { !$0.value.isEmpty }  // "" unsets a default
        let worker = try WorkerProcess(environment: settings, httpPort: port, name: "probe-\(suffix)-\(workers.count)")
        workers.append(worker)
        if waitForReady {
            try waitUntil("the worker to report ready on /health", { worker.http("/health")?.0 ?? 0 }) { $0 == 200 }
        }
        return worker
    }

    /// A TCP port nothing listens on right now (0, which fails the worker's start, if none is found).
    static func freePort() -> Int { (try? LocalPorts.free()) ?? 0 }

    // MARK: - Publishing

    /// One message for the worker. `nil` fields are left out of the AMQP properties.
    struct Message {
        var messageID: String? = UUID().uuidString.lowercased()
        var body: [UInt8]
        var contentType: String? = "application/json"
        var type: String? = "probe.work"
        var correlationID = "order-\(UUID().uuidString.prefix(8).lowercased())"
        var headers: AMQPTable = [:]

        static func work(_ json: String, id: String = UUID().uuidString.lowercased()) -> Message {
            Message(messageID: id, body: Array(json.utf8))
        }
    }

    /// Publishes with confirms to the fixture's exchange (routing key `probe.work`), or straight to
    /// the worker's queue with `toQueue`.
    func publish(_ messages: [Message], toQueue: Bool = false) throws {
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
            let outcomes = try amqp.waitForConfirms(channel: channel, timeout: .seconds(30))
            #expect(outcomes.values.allSatisfy { $0 == .confirmed }, "test publishes must be confirmed: \(outcomes)")
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
    func effects() throws -> [String: Int] {
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
    func effectRows() throws -> Int {
        try effects().values.reduce(0, +)
    }

    func effectAttempts(_ messageID: String) throws -> [Int64] {
        try workerDB().query("select attempts from probe_effects where message_id = $1", [.text(messageID)]).rows.map {
            try $0.int("attempts")
        }
    }

    /// Ready messages in `name`.
    func depth(_ name: String) throws -> UInt32 {
        try amqp.queueStatus(channel: channel, name: name).messageCount
    }

    /// Takes every message now in `name` (acknowledged, so they are gone).
    func drain(_ name: String) throws -> [AMQPDelivery] {
        var taken: [AMQPDelivery] = []
        while let delivery = try amqp.get(channel: channel, queue: name, autoAck: true) { taken.append(delivery) }
        return taken
    }

    /// Waits until the total number of effect rows reaches `count`.
    func waitForEffects(_ count: Int, timeout: Duration = .seconds(60)) throws {
        try waitUntil("\(count) effect rows", timeout: timeout, { try effectRows() }) { $0 >= count }
    }
}
