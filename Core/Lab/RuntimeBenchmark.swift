import AMQP
import CommerceSupport
import FleetOperations
import Foundation
import LocalProcess
import Postgres
import WorkerRuntime

/// Runs one benchmark run at a time for `commerce-lab bench-runtime`: fresh names, a burst published
/// before the worker starts, one probe worker timed until every effect is committed, then the
/// checks and the clean-up.
///
/// Everything runs on the caller's thread with blocking connections (one broker connection and
/// one admin database connection for the whole benchmark).
public final class RuntimeBenchmark {
    public struct Settings {
        var amqpURL: String
        /// A database the benchmark may create and drop databases from.
        var adminDatabaseURL: String
        /// The probe-worker builds, by label (`""` when there is one).
        var probeWorkers: [String: URL]
        var messages: Int
        /// Each message asks the probe to emit a `probe.done` event (through the outbox); a sink
        /// queue takes them, and every one must arrive exactly once.
        var events: Bool
        /// Where worker logs go; a directory without `config/`, the workers' working directory.
        var workDirectory: URL

        public init(
            amqpURL: String, adminDatabaseURL: String, probeWorkers: [String: URL], messages: Int, events: Bool,
            workDirectory: URL
        ) {
            self.amqpURL = amqpURL
            self.adminDatabaseURL = adminDatabaseURL
            self.probeWorkers = probeWorkers
            self.messages = messages
            self.events = events
            self.workDirectory = workDirectory
        }
    }

    /// What the probe worker consumes: `probe.work`, one row in `probe_effects` per message.
    static let routingKey = "probe.work"
    static let body = Array(#"{"action":"ok"}"#.utf8)
    static let bodyWithEvent = Array(#"{"action":"ok","emit":true}"#.utf8)
    public static let tables = ["probe_effects", "runtime_inbox", "runtime_outbox"]
    /// A run whose effect count has not moved for this long has stalled.
    static let stallTimeout: Duration = .seconds(60)
    /// Environment variables passed through from ours to the worker: what a process needs to start
    /// (the toolchain's libraries, a home, a locale). Nothing else is inherited, so a `QUEUE_*` or
    /// `CONSUMER_*` variable set in the operator's shell cannot skew what the worker is told.
    public static let inheritedVariables = ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "LD_LIBRARY_PATH"]

    let settings: Settings
    private let amqp: AMQPConnection
    private var channel: UInt16
    let admin: PostgresConnection

    public init(settings: Settings, amqp: AMQPConnection, admin: PostgresConnection) throws {
        self.settings = settings
        self.amqp = amqp
        self.admin = admin
        channel = try amqp.openChannel()
        try amqp.enableConfirms(channel: channel)
    }

    /// One run. Throws when the servers or the worker cannot be used at all; correctness failures
    /// of the run itself are returned in ``BenchmarkRun/problems``.
    public func run(_ setup: BenchmarkRun.Setup, repetition: Int) throws -> BenchmarkRun {
        // Hex digits only: the suffix also names a database.
        let suffix = String(UUID().uuidString.lowercased().filter(\.isHexDigit).prefix(10))
        let topology = Topology(
            exchange: "bench-\(suffix)", queue: "bench-\(suffix)", bindings: [Self.routingKey],
            queueType: setup.queueType)
        let sink = "bench-\(suffix)-events"
        let database = "bench_\(suffix)"

        // Generated name, never input: identifiers cannot be statement parameters.
        try admin.query("create database \(database)")
        defer { _ = try? admin.query("drop database if exists \(database) with (force)") }
        defer { deleteTopology(topology) }
        // Declared exactly as the worker will declare it (same arguments, so its own declare is a
        // no-op), so the whole burst waits in the queue before the worker starts.
        try topology.declare(on: amqp, channel: channel)
        if settings.events {
            try amqp.declareQueue(
                channel: channel, name: sink, arguments: ["x-queue-type": .string(setup.queueType.rawValue)])
            try amqp.bindQueue(channel: channel, queue: sink, exchange: topology.exchange, routingKey: "probe.done")
        }
        defer { _ = try? amqp.deleteQueue(channel: channel, name: sink) }
        let publishStarted = ContinuousClock.now
        try publishBurst(to: topology, idPrefix: "\(suffix)-")
        let publishSeconds = (ContinuousClock.now - publishStarted).seconds

        let databaseURL = try Self.databaseURL(settings.adminDatabaseURL, database: database)
        let port = try LocalPorts.free()
        let inherited = ProcessInfo.processInfo.environment.filter { Self.inheritedVariables.contains($0.key) }
        guard let executable = settings.probeWorkers[setup.worker] else {
            throw OperationFailure("no probe-worker labelled '\(setup.worker)'")
        }
        let worker = try ChildProcess(
            executable: executable,
            environment: inherited.merging([
                "AMQP_URL": settings.amqpURL, "DATABASE_URL": databaseURL, "QUEUE_NAME": topology.queue,
                "EXCHANGE_NAME": topology.exchange, "QUEUE_TYPE": setup.queueType.rawValue,
                "CONSUMER_BATCH_SIZE": "\(setup.batchSize)", "HTTP_PORT": "\(port)", "LOG_LEVEL": "warning",
                // The benchmark declared the topology; every build compared uses that one.
                "QUEUE_DECLARE": "false",
            ]) { $1 },
            workingDirectory: settings.workDirectory,
            logURL: settings.workDirectory.appendingPathComponent("\(topology.queue).log"))

        try waitUntilReady(worker, port: port)
        let cpuBefore = Self.cpuSnapshot(worker: worker.processIdentifier)
        let started = ContinuousClock.now
        // The benchmark's own session never scans sequentially, so every seq_scan counted in
        // pg_stat_user_tables is the worker's.
        let monitor = try PostgresConnection(url: databaseURL, applicationName: "commerce-bench")
        defer { monitor.close() }
        try monitor.query("set enable_seqscan = off")
        var problems: [String] = []
        var notes: [String] = []
        if let stalled = try waitForEffects(monitor, worker: worker) { problems.append(stalled) }
        if settings.events, let stalled = try waitForEvents(in: sink, worker: worker) { problems.append(stalled) }
        let elapsed = ContinuousClock.now - started
        let cpuAfter = Self.cpuSnapshot(worker: worker.processIdentifier)
        var cpu: [String: Double] = [:]
        for (group, before) in cpuBefore {
            cpu[group] = ProcessCPU.seconds(from: before, to: cpuAfter[group] ?? [:]) / Double(settings.messages)
        }

        let exposition = LoopbackHTTP.get(port: port, path: "/metrics")?.body
        let histogram = exposition.flatMap { PrometheusHistogram(name: "commerce_batch_size", in: $0) }
        let roundTrips = exposition.flatMap {
            PrometheusHistogram(name: "commerce_batch_database_round_trips", in: $0)
        }
        if histogram == nil { notes.append("no commerce_batch_size histogram on /metrics") }
        worker.terminate()
        let exitStatus = worker.waitForExit(timeout: .seconds(60))
        switch exitStatus {
        case 0?: break
        case let status?: problems.append("the worker exited with status \(status) after SIGTERM: \(worker.logTail())")
        case nil: problems.append("the worker was still running 60 s after SIGTERM")
        }

        let scans = try sequentialScans(monitor)
        let indexes = try indexCounts(monitor)
        let effects = try monitor.query(
            """
            select count(*) as rows, count(distinct message_id) as ids,
                   count(*) filter (where message_id like $1) as ours
            from probe_effects
            """, [.text("\(suffix)-%")]
        ).rows[0]
        let (rows, ids, ours) = (
            Int(try effects.int("rows")), Int(try effects.int("ids")), Int(try effects.int("ours"))
        )
        if rows != settings.messages || ids != settings.messages || ours != rows {
            problems.append(
                "\(rows) effect rows for \(ids) distinct message ids (\(ours) of them published by this run); "
                    + "expected exactly \(settings.messages), one per message")
        }
        var batchSizes: [Int: Int] = [:]
        let sizeQuery = """
            select size, count(*) as batches
            from (select count(*) as size from probe_effects group by created_at) as batch
            group by size
            """
        for row in try monitor.query(sizeQuery).rows {
            batchSizes[Int(try row.int("size"))] = Int(try row.int("batches"))
        }
        let transactions = batchSizes.values.reduce(0, +)
        if let histogram, histogram.count != transactions {
            notes.append(
                "/metrics counted \(histogram.count) batches, the effect rows show \(transactions) transactions")
        }
        if settings.events {
            let emitted = Int(try amqp.queueStatus(channel: channel, name: sink).messageCount)
            if emitted != settings.messages {
                problems.append("\(emitted) probe.done events for \(settings.messages) messages; expected one each")
            }
        }
        let deadLetters = Int(try amqp.queueStatus(channel: channel, name: topology.deadLetterQueue).messageCount)
        if deadLetters > 0 { problems.append("\(deadLetters) message(s) in \(topology.deadLetterQueue)") }

        let seconds = elapsed.seconds
        return BenchmarkRun(
            setup: setup, repetition: repetition, messages: settings.messages,
            publishMessagesPerSecond: Double(settings.messages) / publishSeconds, seconds: seconds,
            messagesPerSecond: Double(settings.messages) / seconds, batchHistogram: histogram,
            meanBatchSize: histogram?.mean, batchSizes: BenchmarkRun.BatchSizeRange.ranges(batchSizes: batchSizes),
            sequentialScans: scans, indexes: indexes, cpuSecondsPerMessage: cpu,
            meanRoundTripsPerBatch: roundTrips?.mean, events: settings.events, workerExitStatus: exitStatus,
            effectRows: rows,
            distinctMessageIDs: ids,
            deadLetters: deadLetters, problems: problems, notes: notes)
    }

    // MARK: - Steps

    /// Publishes the burst to the topology's exchange under publisher confirms, in windows of 500,
    /// then checks that the queue holds all of it.
    private func publishBurst(to topology: Topology, idPrefix: String) throws {
        let window = 500
        for start in stride(from: 0, to: settings.messages, by: window) {
            for index in start..<min(start + window, settings.messages) {
                let properties = AMQPProperties(
                    contentType: "application/json", deliveryMode: 2, correlationID: "bench-order-\(index)",
                    messageID: "\(idPrefix)\(index)", timestamp: UInt64(Date().timeIntervalSince1970),
                    type: Self.routingKey, appID: "commerce-bench")
                try amqp.publish(
                    channel: channel, exchange: topology.exchange, routingKey: Self.routingKey, properties: properties,
                    body: settings.events ? Self.bodyWithEvent : Self.body)
            }
            let outcomes = try amqp.waitForConfirms(channel: channel, timeout: .seconds(60))
            if let bad = outcomes.values.first(where: { $0 != .confirmed }) {
                throw OperationFailure("the broker did not take a benchmark message: \(bad)")
            }
        }
        let depth = try amqp.queueStatus(channel: channel, name: topology.queue).messageCount
        guard depth == settings.messages else {
            throw OperationFailure(
                "queue '\(topology.queue)' holds \(depth) messages after publishing \(settings.messages)")
        }
    }

    /// Polls `/health` on `port` every 10 ms until it answers 200 (broker and database connected).
    private func waitUntilReady(_ worker: ChildProcess, port: Int) throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while LoopbackHTTP.get(port: port, path: "/health")?.status != 200 {
            guard worker.isRunning else {
                throw OperationFailure(
                    "the probe worker exited with status \(worker.terminationStatus) before it was ready:\n"
                        + worker.logTail())
            }
            guard ContinuousClock.now < deadline else {
                throw OperationFailure("the probe worker was not ready after 60 s:\n" + worker.logTail())
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// Polls the effect rows every 10 ms until there are as many as messages published (a burst
    /// handled in batches drains in about a second: a coarser poll would blur the figure by
    /// several percent). Returns what went wrong when the count stops growing or the worker dies
    /// first, `nil` on success.
    ///
    /// `max(id)` reads one index entry, so the poll costs the database nothing while the worker
    /// runs; the exact count is taken only once the highest id says it may be complete.
    private func waitForEffects(_ monitor: PostgresConnection, worker: ChildProcess) throws -> String? {
        try waitForProgress("effect", worker: worker) {
            let top = try monitor.query("select coalesce(max(id), 0) as top from probe_effects").rows[0].int("top")
            guard top >= settings.messages else { return Int(top) }
            return Int(try monitor.query("select count(*) as count from probe_effects").rows[0].int("count"))
        }
    }

    /// Waits until the sink holds an event for every message (or the worker stalls or dies).
    private func waitForEvents(in sink: String, worker: ChildProcess) throws -> String? {
        try waitForProgress("probe.done event", worker: worker) {
            Int(try amqp.queueStatus(channel: channel, name: sink).messageCount)
        }
    }

    /// Polls `count` every 10 ms until it reaches the number of messages: `nil`, or what went
    /// wrong when it stops growing for ``stallTimeout`` or the worker dies first.
    private func waitForProgress(_ what: String, worker: ChildProcess, count: () throws -> Int) throws -> String? {
        var highest = -1
        var lastProgress = ContinuousClock.now
        while true {
            let current = try count()
            if current >= settings.messages { return nil }
            if current > highest {
                highest = current
                lastProgress = ContinuousClock.now
            } else if ContinuousClock.now - lastProgress > Self.stallTimeout {
                return "no new \(what) for \(Self.stallTimeout) (\(current) of \(settings.messages))"
            }
            if !worker.isRunning {
                return "the worker exited with status \(worker.terminationStatus) during the run:\n" + worker.logTail()
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// CPU ticks of the three parties, per process.
    private static func cpuSnapshot(worker: Int32) -> [String: [Int32: Int]] {
        [
            "worker": ProcessCPU.snapshot(pids: [worker]),
            "rabbitmq": ProcessCPU.snapshot(names: ["beam.smp"]),
            "postgres": ProcessCPU.snapshot(names: ["postgres"]),
        ]
    }

    /// `seq_scan` of the worker's tables, read once the worker's database sessions have ended:
    /// a backend flushes its statistics when it exits, before it leaves `pg_stat_activity`.
    private func sequentialScans(_ monitor: PostgresConnection) throws -> [String: Int] {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            let others = try monitor.query(
                """
                select count(*) as n from pg_stat_activity
                where datname = current_database() and backend_type = 'client backend' and pid <> pg_backend_pid()
                """
            ).rows[0].int("n")
            if others == 0 { break }
            Thread.sleep(forTimeInterval: 0.02)
        }
        try monitor.query("select pg_stat_clear_snapshot()")
        var scans: [String: Int] = [:]
        let rows = try monitor.query(
            "select relname, seq_scan from pg_stat_user_tables where relname = any($1::text[])",
            [.textArray(Self.tables)]
        ).rows
        for row in rows { scans[try row.string("relname")] = Int(try row.int("seq_scan")) }
        return scans
    }

    /// Indexes per table. Building an index scans its table once, and PostgreSQL counts that
    /// scan in `seq_scan`: a run's count starts at this number before any query ran.
    private func indexCounts(_ monitor: PostgresConnection) throws -> [String: Int] {
        var counts: [String: Int] = [:]
        let rows = try monitor.query(
            """
            select c.relname, count(i.indexrelid) as indexes
            from pg_class c left join pg_index i on i.indrelid = c.oid
            where c.relname = any($1::text[]) and c.relkind = 'r'
            group by c.relname
            """, [.textArray(Self.tables)]
        ).rows
        for row in rows { counts[try row.string("relname")] = Int(try row.int("indexes")) }
        return counts
    }

    /// Deletes the run's queues and exchange; failures are ignored (the names are never reused).
    private func deleteTopology(_ topology: Topology) {
        // A failed step may have closed the channel: use a fresh one for the clean-up.
        if !amqp.isChannelOpen(channel) {
            guard let reopened = try? amqp.openChannel(), (try? amqp.enableConfirms(channel: reopened)) != nil else {
                return
            }
            channel = reopened
        }
        let queues =
            [topology.queue, topology.deadLetterQueue]
            + topology.retryDelays.indices.map { topology.retryQueue(forTier: $0) }
        for queue in queues { _ = try? amqp.deleteQueue(channel: channel, name: queue) }
        _ = try? amqp.deleteQueue(channel: channel, name: PresenceStream.name(exchange: topology.exchange))
        _ = try? amqp.deleteExchange(channel: channel, name: topology.exchange)
    }

    /// `url` pointing at `database` instead: the path of a `postgresql://` URL, or a `dbname=`
    /// appended to a conninfo string (libpq takes the last value of a repeated keyword).
    public static func databaseURL(_ url: String, database: String) throws -> String {
        guard url.contains("://") else { return "\(url) dbname=\(database)" }
        guard var components = URLComponents(string: url) else {
            throw OperationFailure("cannot read the database URL '\(OperationFailure.redacted(url))'")
        }
        components.path = "/\(database)"
        guard let result = components.string else {
            throw OperationFailure("cannot build a database URL from '\(OperationFailure.redacted(url))'")
        }
        return result
    }
}
