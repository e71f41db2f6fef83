import AMQP
import CommerceMessages
import CommerceSupport
import CommerceTracing
import FleetOperations
import Foundation
import Glibc
import LocalProcess
import Postgres
import SagaAudit
import WorkerRuntime

/// Runs the fleet's side of `commerce-lab bench`: for each run a fresh ``SagaFleet``, N orders placed
/// through the broker as an upstream would (as fast as the broker confirms, or paced), each
/// followed from the publish of its `order.place` to its terminal event, the workers' figures,
/// CPU per process and per thread, and the saga audit; then the fleet stops and its names and
/// stores are removed.
///
/// Everything but the ``OrderOutcomeCollector`` runs on the caller's thread with blocking
/// connections.
public final class SagaBenchmark {
    public struct Settings {
        var fleet: SagaFleet.Settings
        var shape: SagaFleet.Shape
        /// Orders published before waiting for their confirms (the ceiling's `-w`).
        var publishWindow: Int
        /// A run in which no order ended for this long has stalled.
        var stallTimeout: Duration
        /// How long the audit may wait for trailing work (sales, notifications) to settle.
        var settle: Duration
        /// Leave the fleet's queues, databases and MongoDB data in place (for inspection).
        var keepStores: Bool

        public init(
            fleet: SagaFleet.Settings, shape: SagaFleet.Shape, publishWindow: Int, stallTimeout: Duration,
            settle: Duration, keepStores: Bool
        ) {
            self.fleet = fleet
            self.shape = shape
            self.publishWindow = publishWindow
            self.stallTimeout = stallTimeout
            self.settle = settle
            self.keepStores = keepStores
        }
    }

    /// A paced run's largest burst: orders due at one wake-up beyond this wait for the next.
    static let maximumBurst = 1000

    let settings: Settings
    private let log: (String) -> Void

    public init(settings: Settings, log: @escaping (String) -> Void) {
        self.settings = settings
        self.log = log
    }

    /// One run of `orders` orders, paced at `rate` orders/s or as fast as possible.
    /// - Throws: ``OperationFailure`` when the fleet or the servers cannot be used at all; what went
    ///   wrong within the run (an order that did not end, a dirty audit, a crash) is in ``FleetRun/problems``.
    public func run(orders count: Int, rate: Double?, repetition: Int) throws -> FleetRun {
        // Connections of the run's own: a server restarted by someone else between runs costs
        // that run at most, not the rest of the invocation.
        let admin: PostgresConnection
        let amqp: AMQPConnection
        do {
            admin = try PostgresConnection(url: settings.fleet.adminDatabaseURL, applicationName: "commerce-bench")
            var configuration = try AMQPConfiguration(
                urls: settings.fleet.amqpURL, connectionName: "commerce-lab bench")
            configuration.connectTimeout = .seconds(5)
            amqp = try AMQPConnection(configuration: configuration)
        } catch {
            throw OperationFailure("cannot reach the servers: \(OperationFailure.describe(error))")
        }
        defer {
            admin.close()
            amqp.close()
        }
        // A free port may be taken by someone else between our pick and the worker's bind
        // (LocalPorts.free): such a start is tried again with new ports, up to three times.
        var attempt = 1
        var startedFleet: SagaFleet?
        while startedFleet == nil {
            let candidate = try SagaFleet(shape: settings.shape, settings: settings.fleet, admin: admin)
            do {
                try candidate.start()
                startedFleet = candidate
            } catch {
                candidate.tearDown(amqp: amqp)
                guard attempt < 3, "\(error)".contains("Address already in use") else { throw error }
                log("    a port was taken before a worker could bind it; starting the fleet again")
                attempt += 1
            }
        }
        let fleet = startedFleet!
        defer { if !settings.keepStores { fleet.tearDown(amqp: amqp) } else { _ = fleet.stop() } }
        log(
            "    fleet bench-\(fleet.suffix) ready: \(fleet.workers.count) worker processes, MongoDB \(mongoDescription(fleet))"
        )

        let commands = (0..<count).map(Self.order)
        let bodies = commands.map { $0.encodedBody() }
        var configuration = try AMQPConfiguration(
            urls: settings.fleet.amqpURL, connectionName: "commerce-lab bench outcomes")
        configuration.connectTimeout = .seconds(5)
        let collector = try OrderOutcomeCollector(
            amqp: configuration, exchange: fleet.exchange, queue: "bench-outcomes-\(fleet.suffix)",
            orderIDs: commands.map(\.orderID))
        defer { collector.stop() }

        let channel = try amqp.openChannel()
        defer { amqp.closeChannel(channel) }
        try amqp.enableConfirms(channel: channel)

        let parties = partyPIDs(fleet)
        let cpuBefore = parties.mapValues { ProcessCPU.snapshot(pids: $0) }
        let threadsBefore = ProcessCPU.threadSnapshot(pids: parties.values.reduce(into: Set()) { $0.formUnion($1) })
        let machineBefore = Self.machineTicks()

        var publishedAt: [ContinuousClock.Instant] = []
        publishedAt.reserveCapacity(count)
        let started = ContinuousClock.now
        var next = 0
        while next < count {
            let due: Int
            if let rate {
                let elapsed = (ContinuousClock.now - started).seconds
                due = min(count, next + Self.maximumBurst, Int(elapsed * rate) + 1)
            } else {
                due = min(count, next + settings.publishWindow)
            }
            while next < due {
                let command = commands[next]
                let properties = AMQPProperties(
                    contentType: "application/json", headers: TraceContext.newTraceHeaders(), deliveryMode: 2,
                    correlationID: command.orderID,
                    messageID: Envelope.newMessageID(), timestamp: UInt64(Date().timeIntervalSince1970),
                    type: MessageType.orderPlace.rawValue, appID: "commerce-bench")
                publishedAt.append(.now)
                try amqp.publish(
                    channel: channel, exchange: fleet.exchange, routingKey: MessageType.orderPlace.rawValue,
                    mandatory: true, properties: properties, body: bodies[next])
                next += 1
            }
            let outcomes = try amqp.waitForConfirms(channel: channel, timeout: .seconds(60))
            guard outcomes.values.allSatisfy({ $0 == .confirmed }) else {
                throw OperationFailure(
                    "the broker did not take every order.place: \(Set(outcomes.values.map { "\($0)" })) "
                        + "(are the fleet's queues declared?)")
            }
            if let rate, next < count {
                // Sleep to the next order's absolute due time: no drift, and never a sub-millisecond
                // poll loop (rabbitmq-c turns such waits into zero-length polls that spin a core).
                let wait = (started + .seconds(Double(next) / rate) - ContinuousClock.now).seconds
                if wait > 0 { Thread.sleep(forTimeInterval: wait) }
            }
        }
        let publishSeconds = (publishedAt.last! - publishedAt.first!).seconds

        // Wait for every order's end, watching for a stall, a crashed process or a lost collector.
        var problems: [String] = []
        var lastProgress = (ended: 0, at: ContinuousClock.now)
        while true {
            let (ended, failure) = collector.progress
            if ended == count { break }
            if let failure {
                problems.append("the outcome collector stopped: \(failure)")
                break
            }
            if !fleet.processes.exited.isEmpty {
                problems.append(
                    "a process of the fleet exited during the run: \(fleet.processes.exited.map(\.description))")
                break
            }
            if ended > lastProgress.ended {
                lastProgress = (ended, .now)
            } else if ContinuousClock.now - lastProgress.at > settings.stallTimeout {
                problems.append(
                    "stalled: no order ended for \(settings.stallTimeout) with \(count - ended) of \(count) open")
                break
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
        let cpuAfter = parties.mapValues { ProcessCPU.snapshot(pids: $0) }
        let threadsAfter = ProcessCPU.threadSnapshot(pids: parties.values.reduce(into: Set()) { $0.formUnion($1) })
        let machineAfter = Self.machineTicks()
        // PostgreSQL names its processes in the command line (`postgres: walwriter`, a backend's
        // user, database and state): more telling than the thread name `postgres`. Read now,
        // while the fleet's backends still exist.
        let titles = (parties["postgres"] ?? []).reduce(into: [Int32: String]()) { result, pid in
            result[pid] = ProcessCPU.commandLine(pid).map { $0.replacing(/\s+/, with: " ") }
        }
        let handledAtEnd = fleet.workers.reduce(0) { total, copy in
            total + (metrics(port: copy.port)?.total("commerce_messages_handled_total").map { Int($0) } ?? 0)
        }
        let seen = collector.snapshot
        collector.stop()
        let lastEnd = seen.lastEnd ?? .now
        let seconds = (lastEnd - started).seconds

        // Sales and notifications trail the terminal events: audit until clean or `settle` passed.
        let audit = try fleet.auditSettled(within: settings.settle, applicationName: "commerce-bench")!
        if !audit.isClean {
            problems.append(
                "the saga audit found \(audit.violations.count) violation(s): \(audit.violations.prefix(5).map { "\($0)" })"
            )
        }
        // Said for every run: with the sandbox processor invariant 6 is not checked, and a reader of
        // the log must not take the run's clean audit for a reconciled one.
        log("    reconciliation with the card processor: \(audit.reconciliation)")
        let workers = fleet.workers.map { copy in workerFigures(name: copy.name, port: copy.port) }
        var deadLetters = 0
        if let control = try? amqp.openChannel() {
            for topology in fleet.topologies {
                deadLetters += Int(
                    (try? amqp.queueStatus(channel: control, name: topology.deadLetterQueue))?.messageCount ?? 0)
            }
            amqp.closeChannel(control)
        }
        if deadLetters > 0 { problems.append("\(deadLetters) dead letter(s) in the fleet's .dlq queues") }
        let exits = fleet.stop()
        for exit in exits where !exit.isClean { problems.append("\(exit) after SIGTERM (expected exit 0)") }

        // Figures.
        var latencies: [UInt64] = []
        var timeline: [[Double]] = []
        let stride = max(1, count / 2000)
        for index in 0..<count {
            guard let end = seen.endedAt[index] else { continue }
            let latency = end - publishedAt[index]
            latencies.append(UInt64(max(0, latency.seconds * 1_000_000)))
            if index % stride == 0 {
                timeline.append([
                    (publishedAt[index] - started).seconds.rounded(toPlaces: 4),
                    (latency.seconds * 1000).rounded(toPlaces: 3),
                ])
            }
        }
        var outcomes: [String: Int] = [:]
        for outcome in seen.outcome.compactMap({ $0 }) { outcomes[outcome, default: 0] += 1 }
        let unfinished = count - seen.ended
        if unfinished > 0 && problems.isEmpty { problems.append("\(unfinished) order(s) did not end") }
        var meanBatch: [String: Double] = [:]
        for worker in FleetCatalog.workers {
            let mine = workers.filter { $0.name == worker.name || $0.name.hasPrefix("\(worker.name)#") }
            let batches = mine.map(\.batches).reduce(0, +)
            let messages = mine.reduce(0.0) { $0 + ($1.meanBatchSize ?? 0) * Double($1.batches) }
            if batches > 0 { meanBatch[worker.name] = messages / Double(batches) }
        }
        var cpu: [String: Double] = [:]
        for (party, before) in cpuBefore {
            cpu[party] = ProcessCPU.seconds(from: before, to: cpuAfter[party] ?? [:]).rounded(toPlaces: 3)
        }
        let partyOfPID = parties.reduce(into: [Int32: String]()) { result, entry in
            for pid in entry.value { result[pid] = entry.key }
        }
        var threads: [FleetRun.ThreadCPU] = []
        for (thread, ticks) in threadsAfter {
            let used = Double(ticks - (threadsBefore[thread] ?? 0)) / ProcessCPU.ticksPerSecond
            guard used >= 0.01 else { continue }
            let party = partyOfPID[thread.pid] ?? "?"
            let title = party == "postgres" ? (titles[thread.pid] ?? thread.name) : thread.name
            threads.append(.init(party: party, pid: thread.pid, thread: title, cpuSeconds: used.rounded(toPlaces: 3)))
        }
        threads.sort { $0.cpuSeconds > $1.cpuSeconds }
        let ticks = ProcessCPU.ticksPerSecond
        var busy: Double?
        if let before = machineBefore, let after = machineAfter { busy = Double(after.busy - before.busy) / ticks }
        return FleetRun(
            mode: rate == nil ? "flood" : "rate", repetition: repetition, orders: count, targetRate: rate,
            publishedPerSecond: publishSeconds > 0 ? Double(count) / publishSeconds : Double(count),
            seconds: seconds, ordersPerSecond: seconds > 0 ? Double(seen.ended) / seconds : 0,
            sagaMessagesPerSecond: seconds > 0 ? Double(handledAtEnd) / seconds : 0, handledMessages: handledAtEnd,
            latency: LatencyFigures(microseconds: latencies), timeline: timeline, outcomes: outcomes,
            unfinished: unfinished, repeatedEvents: seen.repeated, meanBatchSize: meanBatch, workers: workers,
            cpuSeconds: cpu,
            cpuAvailableSeconds: (Double(ProcessInfo.processInfo.activeProcessorCount) * seconds).rounded(toPlaces: 2),
            machineBusySeconds: busy.map { $0.rounded(toPlaces: 2) }, threads: Array(threads.prefix(30)),
            auditClean: audit.isClean, auditViolations: audit.violations.prefix(20).map { "\($0)" },
            deadLetters: deadLetters, exits: exits.map(\.description), mongo: mongoDescription(fleet),
            problems: problems)
    }

    // MARK: - Orders

    private static let customerAddress = ShippingAddress(
        street: "Teheran-ro 123", city: "Seoul", postalCode: "06234", country: "KR", detail: "5F")

    /// The `index`-th order: one to three lines over the benchmark's SKUs (stocked generously, so
    /// every order should be confirmed, as in the references), a card the sandbox approves, one in
    /// four with a coupon. Deterministic, so every run places the same orders.
    static func order(_ index: Int) -> PlaceOrder {
        let lines = (0..<(1 + index % 3)).map { line in
            let sku = SagaFleet.stockKeepingUnits[(index * 7 + line * 13) % SagaFleet.stockKeepingUnits.count]
            return OrderLine(
                sku: sku, name: "Bench item \(sku)", quantity: 1 + (index + line) % 2,
                unitPrice: 12_000 + ((index * 31 + line * 17) % 31) * 1_000)
        }
        return PlaceOrder(
            orderID: Envelope.newMessageID(),
            customer: Customer(id: "bench-\(index % 1000)", email: "bench\(index % 1000)@example.com"),
            items: lines, shippingAddress: customerAddress, paymentToken: "tok_approve",
            couponCode: index % 4 == 0 ? "SUMMER20" : nil)
    }

    // MARK: - Measuring

    /// The pids of each party whose CPU the run reports.
    private func partyPIDs(_ fleet: SagaFleet) -> [String: Set<Int32>] {
        var parties: [String: Set<Int32>] = [:]
        for (name, pid) in fleet.processIdentifiers { parties[name] = [pid] }
        parties["rabbitmq"] = ProcessCPU.pids(named: ["beam.smp"])
        parties["postgres"] = ProcessCPU.pids(named: ["postgres"])
        if let secantus = fleet.secantus {
            parties["mongodb"] = [secantus.processIdentifier]
        } else {
            parties["mongodb"] = ProcessCPU.pids(commandLineContaining: "secantus")
        }
        parties["bench"] = [getpid()]
        return parties
    }

    /// Busy and total clock ticks of the whole machine, from the first line of `/proc/stat`.
    static func machineTicks() -> (busy: Int, total: Int)? {
        guard let stat = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = stat.split(separator: "\n").first
        else { return nil }
        let fields = line.split(separator: " ").dropFirst().compactMap { Int($0) }
        guard fields.count >= 5 else { return nil }
        // user nice system idle iowait irq softirq steal …: idle and iowait are not busy.
        let total = fields.prefix(8).reduce(0, +)
        return (total - fields[3] - fields[4], total)
    }

    private func metrics(port: Int) -> PrometheusSamples? {
        LoopbackHTTP.get(port: port, path: "/metrics").map { PrometheusSamples($0.body) }
    }

    private func workerFigures(name: String, port: Int) -> FleetRun.WorkerFigures {
        let exposition = LoopbackHTTP.get(port: port, path: "/metrics")?.body ?? ""
        let samples = PrometheusSamples(exposition)
        let batch = PrometheusHistogram(name: "commerce_batch_size", in: exposition)
        return FleetRun.WorkerFigures(
            name: name, handled: Int(samples.total("commerce_messages_handled_total") ?? 0),
            retried: Int(samples.total("commerce_messages_retried_total") ?? 0),
            deadLettered: Int(samples.total("commerce_messages_dead_lettered_total") ?? 0),
            meanBatchSize: batch?.mean, batches: batch?.count ?? 0,
            meanRoundTripsPerBatch: PrometheusHistogram(name: "commerce_batch_database_round_trips", in: exposition)?
                .mean)
    }

    /// The saga audit over the fleet's stores, repeated every second until clean or ``Settings/settle``.
    private func mongoDescription(_ fleet: SagaFleet) -> String {
        fleet.secantus != nil
            ? "a fresh SecantusDB (--sync-on-commit) started for this run"
            : "the running server at \(OperationFailure.redacted(fleet.mongoURL)) (its history may slow it)"
    }
}

extension Double {
    /// Rounded to `places` decimals, for JSON that people read.
    public func rounded(toPlaces places: Int) -> Double {
        let scale = Foundation.pow(10, Double(places))
        return (self * scale).rounded() / scale
    }
}
