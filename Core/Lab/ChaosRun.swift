import AMQP
import Chaos
import CommerceMessages
import CommerceTracing
import FleetOperations
import Foundation
import LocalProcess
import Ordering
import Postgres
import Resilience
import SagaAudit
import WorkerRuntime

/// One `commerce-lab chaos` run (docs/chaos.md): a fleet of its own, orders at a steady rate as an
/// upstream would place them, and meanwhile, one after another, every fault of the list below;
/// then the drain, the audit and the count of what was lost, doubled or dead-lettered.
///
/// Two threads: this one publishes the orders; the fault thread owns the fleet (``LocalFleet`` is
/// not thread-safe) and runs the faults at evenly spaced moments of the publishing time, watching
/// between them for worker copies that died without being killed.
public final class ChaosRun {
    public struct Settings {
        var fleet: SagaFleet.Settings
        var shape: SagaFleet.Shape
        var orders: Int
        /// Orders per second.
        var rate: Double
        var drainTimeout: Duration
        var seed: UInt64
        /// `scripts/services.sh`, which restarts the servers.
        var servicesScript: URL
        var amqp: AMQPConfiguration
        /// Leave the fleet's queues, databases and MongoDB data for inspection.
        var keepStores: Bool
        /// Fault names to leave out (`ChaosRun.faultNames`).
        var skip: Set<String>

        public init(
            fleet: SagaFleet.Settings, shape: SagaFleet.Shape, orders: Int, rate: Double, drainTimeout: Duration,
            seed: UInt64, servicesScript: URL, amqp: AMQPConfiguration, keepStores: Bool, skip: Set<String>
        ) {
            self.fleet = fleet
            self.shape = shape
            self.orders = orders
            self.rate = rate
            self.drainTimeout = drainTimeout
            self.seed = seed
            self.servicesScript = servicesScript
            self.amqp = amqp
            self.keepStores = keepStores
            self.skip = skip
        }
    }

    /// A fault as it happened.
    public struct FaultRecord: Encodable {
        public var name: String
        public var detail: String
        /// Seconds since the first order was published.
        public var at: Double
        public var seconds: Double
        public var ok: Bool
    }

    /// The faults, in the order they are injected.
    /// The crash points come early: they need orders still flowing to reach them.
    /// `kill-payment-worker` comes three times: customer cancels race slow charges all along the
    /// run (``OrderPlan/racing``), and a payment-worker copy killed with such a charge in flight
    /// is the moment a capture could be kept for a cancelled order.
    /// The workers' deadlines in the run, shorter than the defaults so that the 12 s freezes
    /// outlast them (docs/architecture.md, "Deadlines"): a frozen broker is noticed after two
    /// missed 5 s heartbeats, a frozen database after an 8 s round trip. The shape's own
    /// environment wins over these.
    static let deadlines = [
        "AMQP_HEARTBEAT": "5", "DATABASE_ROUND_TRIP_TIMEOUT_MS": "8000", "DATABASE_STATEMENT_TIMEOUT_MS": "7000",
    ]

    public static let faultNames = [
        "kill-worker", "crash-after-commit", "kill-payment-worker", "hostile-messages", "restart-rabbitmq",
        "crash-before-ack", "kill-worker", "restart-postgresql", "kill-payment-worker", "memory-alarm",
        "freeze-postgresql", "restart-mongodb", "restart-gateway", "kill-worker", "freeze-rabbitmq",
        "kill-payment-worker", "replay-old-events",
    ]

    /// The payment token of the orders whose cancel races their charge: the gateway captures it
    /// after 1.5 s (`tok_slow_MS`), so the cancel, sent 0.15 to 1.05 s after the order, arrives
    /// while the charge is in flight.
    public static let racingToken = "tok_slow_1500"

    let settings: Settings
    private let amqp: AMQPConnection
    private let admin: PostgresConnection
    let log: (String) -> Void
    private var random: SplitMix64

    public init(settings: Settings, amqp: AMQPConnection, admin: PostgresConnection, log: @escaping (String) -> Void) {
        self.settings = settings
        self.amqp = amqp
        self.admin = admin
        self.log = log
        random = SplitMix64(seed: settings.seed)
    }

    // MARK: - The run

    public func run() throws -> ChaosReport {
        var shape = settings.shape
        shape.workerEnvironment.merge(Self.deadlines) { own, _ in own }
        let fleet = try SagaFleet(shape: shape, settings: settings.fleet, admin: admin)
        defer {
            // The run restarts the broker: the connection we started with is gone by now.
            if settings.keepStores {
                _ = fleet.stop()
            } else if let connection = try? AMQPConnection(configuration: settings.amqp) {
                fleet.tearDown(amqp: connection)
                connection.close()
            } else {
                fleet.tearDown(amqp: amqp)
            }
        }
        try fleet.start()
        log("fleet bench-\(fleet.suffix) ready: \(fleet.workers.count) worker processes")
        let capture = "chaos-capture-\(fleet.suffix)"
        try declareCapture(capture, exchange: fleet.exchange)
        defer {
            if let connection = try? AMQPConnection(configuration: settings.amqp),
                let channel = try? connection.openChannel()
            {
                _ = try? connection.deleteQueue(channel: channel, name: capture)
                connection.close()
            }
        }

        let plan = OrderPlan(count: settings.orders, random: &random)
        let publishingTime = Double(settings.orders) / settings.rate
        let faults = FaultThread(
            run: self, fleet: fleet, capture: capture, publishingTime: publishingTime, seed: random.next())
        let started = ContinuousClock.now
        faults.start(at: started)
        let publisher = ChaosPublisher(configuration: settings.amqp)
        do {
            try publish(plan, exchange: fleet.exchange, publisher: publisher, started: started)
        } catch {
            // The fleet belongs to the fault thread until it is done: stop it before tearing down.
            faults.stop()
            _ = faults.join()
            throw error
        }
        log(
            "published \(plan.orders.count) orders in \(String(format: "%.1f", (ContinuousClock.now - started).seconds)) s "
                + "(\(publisher.reconnections) reconnection(s)); waiting for the faults to finish")
        let faultOutcome = faults.join()

        let drain = try drainOrders(plan, fleet: fleet)
        var racingOutcomes: [String: Int] = [:]
        for index in plan.racing {
            racingOutcomes[drain.byOrder[plan.orders[index].orderID] ?? "absent", default: 0] += 1
        }
        // Terminal orders are not a settled saga: a compensation can still be on its way (a
        // cancelled order's refund waiting in a retry queue, or held by the broker after a
        // restart), and a server restarted by a fault may still be coming back. An audit that
        // fails is tried again for ``auditWindow``.
        let audit = try? fleet.auditSettled(
            within: Self.auditWindow, applicationName: "commerce-chaos", toleratingErrors: true)
        let racingCharges = racingChargeOutcomes(plan, fleet: fleet)
        let duplicates = duplicatedEffects(fleet)
        let letters = deadLetters(
            fleet, expected: faultOutcome.expectedDeadLetters, withoutID: faultOutcome.expectedDeadLettersWithoutID)
        let exits = fleet.stop()
        var unplanned = faultOutcome.unplannedExits
        for exit in exits where !exit.isClean && !faultOutcome.expectedToExit.contains(exit.name) {
            unplanned.append("\(exit) after SIGTERM (expected exit 0)")
        }
        return ChaosReport(
            fleet: "bench-\(fleet.suffix)", shape: settings.shape, seed: settings.seed, orders: plan.orders.count,
            rate: settings.rate, placed: plan.orders.count, terminal: drain.terminal, statuses: drain.statuses,
            lost: drain.lost, duplicatedEffects: duplicates, deadLetters: letters.byReason,
            hostileDeadLetters: letters.hostile, unexpectedDeadLetters: letters.unexpected,
            missingHostileDeadLetters: letters.missing, faults: faultOutcome.records,
            plannedKills: faultOutcome.plannedKills, unplannedExits: unplanned,
            racingCancels: plan.racing.count, racingCancelOutcomes: racingOutcomes,
            racingCancelCharges: racingCharges,
            reconciliation: audit.map { "\($0.reconciliation)" } ?? "the audit could not run",
            publisherReconnections: publisher.reconnections, auditClean: audit?.isClean ?? false,
            auditViolations: audit.map { $0.violations.prefix(20).map { "\($0)" } } ?? ["the audit could not run"],
            seconds: ((ContinuousClock.now - started).seconds).rounded(toPlaces: 1))
    }

    /// How long the audit is tried again until it is clean, after every order is terminal: the
    /// longest a compensation can trail its order's terminal event. An `order.cancelled` whose
    /// refund lookup found the charge still in progress goes through the retry tiers (up to
    /// 30 s each), and a retry copy that expires while the broker restarts is held by RabbitMQ's
    /// dead-letter worker for `dead_letter_worker_publisher_confirm_timeout` (180 s) before it
    /// moves on (docs/chaos.md, "What the runs taught"): 180 + 30 s, and 30 s to spare. A clean
    /// run does not wait: the first clean audit ends it.
    static let auditWindow: Duration = .seconds(240)

    // MARK: - Orders

    /// What the run publishes: the orders, and which of them get a duplicate, an upstream retry or
    /// a cancel.
    struct OrderPlan {
        var orders: [PlaceOrder] = []
        /// Published twice with one message id (a producer's retry after a lost confirm).
        var duplicated: Set<Int> = []
        /// Published again with a new message id (an upstream retry of the same command).
        var retried: Set<Int> = []
        /// Cancelled by the customer shortly after placing.
        var cancelled: Set<Int> = []
        /// Paid with ``ChaosRun/racingToken`` and cancelled by the customer while the charge is in
        /// flight: the race between a cancel and a capture, which reconciliation must find settled.
        var racing: Set<Int> = []

        init(count: Int, random: inout SplitMix64) {
            for index in 0..<count {
                var order = SagaBenchmark.order(index)
                let draw = Int(random.next() % 100)
                order.paymentToken =
                    switch draw {
                    case 0..<7: "tok_decline"
                    case 7..<10: "tok_insufficient_funds"
                    case 10..<20: "tok_transient_2"
                    case 20..<25: ChaosRun.racingToken
                    default: "tok_approve"
                    }
                orders.append(order)
                let extra = random.next() % 100
                if extra == 0 { duplicated.insert(index) }
                if extra == 1 { retried.insert(index) }
                if (20..<25).contains(draw) {
                    racing.insert(index)
                } else if extra >= 2 && extra < 5 {
                    cancelled.insert(index)
                }
            }
        }
    }

    private func publish(
        _ plan: OrderPlan, exchange: String, publisher: ChaosPublisher, started: ContinuousClock.Instant
    ) throws {
        var next = 0
        var cancels: [(due: ContinuousClock.Instant, index: Int)] = []
        let tick = 0.05
        while next < plan.orders.count || !cancels.isEmpty {
            let now = ContinuousClock.now
            let due = min(plan.orders.count, Int((now - started).seconds * settings.rate) + 1)
            var batch: [ChaosPublisher.Message] = []
            while next < due {
                let order = plan.orders[next]
                let message = command(order, type: .orderPlace, body: order.encodedBody(), exchange: exchange)
                batch.append(message)
                if plan.duplicated.contains(next) { batch.append(message) }
                if plan.retried.contains(next) {
                    batch.append(command(order, type: .orderPlace, body: order.encodedBody(), exchange: exchange))
                }
                if plan.cancelled.contains(next) {
                    cancels.append((now + .milliseconds(200 + Int(random.next() % 800)), next))
                }
                if plan.racing.contains(next) {
                    // order.placed, stock.reserved and the charge's start take tens of milliseconds
                    // at this rate: the cancel lands within the 1.5 s the charge takes.
                    cancels.append((now + .milliseconds(150 + Int(random.next() % 900)), next))
                }
                next += 1
            }
            for (index, cancel) in cancels.enumerated().reversed() where cancel.due <= now {
                let order = plan.orders[cancel.index]
                let body = CancelOrder(orderID: order.orderID, reason: "changed my mind (chaos run)").encodedBody()
                batch.append(command(order, type: .orderCancel, body: body, exchange: exchange))
                cancels.remove(at: index)
            }
            if !batch.isEmpty { try publisher.publish(batch, deadline: .now + .seconds(180)) }
            Thread.sleep(forTimeInterval: tick)
        }
    }

    private func command(_ order: PlaceOrder, type: MessageType, body: [UInt8], exchange: String)
        -> ChaosPublisher.Message
    {
        ChaosPublisher.Message(
            exchange: exchange, routingKey: type.rawValue,
            properties: AMQPProperties(
                contentType: "application/json", headers: TraceContext.newTraceHeaders(), deliveryMode: 2,
                correlationID: order.orderID,
                messageID: Envelope.newMessageID(), timestamp: UInt64(Date().timeIntervalSince1970),
                type: type.rawValue, appID: "commerce-chaos"),
            body: body)
    }

    /// A queue that keeps the saga's events as they pass, for the replay of old events.
    private func declareCapture(_ name: String, exchange: String) throws {
        let channel = try amqp.openChannel()
        defer { amqp.closeChannel(channel) }
        try amqp.declareQueue(
            channel: channel, name: name, arguments: ["x-queue-type": "classic", "x-max-length": .int(2_000)])
        for key in ["order.placed", "stock.*", "payment.*", "order.confirmed", "order.cancelled"] {
            try amqp.bindQueue(channel: channel, queue: name, exchange: exchange, routingKey: key)
        }
    }

    // MARK: - Afterwards

    private struct Drain {
        var terminal: Int
        var statuses: [String: Int]
        var lost: [String]
        /// Each placed order's status after the drain.
        var byOrder: [String: String]
    }

    /// Waits until every placed order is terminal in the orders database, or the drain timeout.
    private func drainOrders(_ plan: OrderPlan, fleet: SagaFleet) throws -> Drain {
        let ids = plan.orders.map(\.orderID)
        let deadline = ContinuousClock.now + settings.drainTimeout
        var lastReport = ContinuousClock.now
        var database: PostgresConnection?
        var statuses: [String: String] = [:]
        while true {
            do {
                if database == nil {
                    database = try PostgresConnection(
                        url: fleet.databaseURLs["orders"]!, applicationName: "commerce-chaos")
                }
                statuses = try OrderView.statuses(of: ids, from: database!)
            } catch {
                database?.close()
                database = nil
            }
            let terminal = statuses.values.filter { ["CONFIRMED", "CANCELLED", "REJECTED"].contains($0) }.count
            if terminal == ids.count { break }
            if ContinuousClock.now >= deadline {
                log("drain timeout: \(ids.count - terminal) order(s) not terminal")
                break
            }
            if ContinuousClock.now - lastReport > .seconds(5) {
                log("draining: \(terminal) of \(ids.count) orders terminal")
                lastReport = .now
            }
            Thread.sleep(forTimeInterval: 0.5)
        }
        database?.close()
        var counts: [String: Int] = [:]
        for status in statuses.values { counts[status, default: 0] += 1 }
        let terminalStatuses: Set<String> = ["CONFIRMED", "CANCELLED", "REJECTED"]
        let lost = ids.filter { !terminalStatuses.contains(statuses[$0] ?? "") }
        return Drain(terminal: ids.count - lost.count, statuses: counts, lost: lost, byOrder: statuses)
    }

    /// What the card processor did with the racing orders' charges, from its charge listing: how
    /// many were captured and refunded in full (the cancel came while or after the charge ran),
    /// captured and kept in part or whole (reconciliation reports those), declined, or never
    /// charged (the cancel came first). Evidence that the race was run both ways; empty with the
    /// sandbox, whose books no other process can read.
    private func racingChargeOutcomes(_ plan: OrderPlan, fleet: SagaFleet) -> [String: Int] {
        guard case .charges(let charges) = fleet.processorBooks() else { return [:] }
        let byOrder = Dictionary(grouping: charges, by: \.orderReference)
        var outcomes: [String: Int] = [:]
        for index in plan.racing {
            let held = byOrder[plan.orders[index].orderID] ?? []
            let outcome: String
            if held.isEmpty {
                outcome = "never charged"
            } else if !held.contains(where: \.isCaptured) {
                outcome = "declined"
            } else if held.allSatisfy({ $0.kept == 0 }) {
                outcome = "captured, refunded"
            } else {
                outcome = "captured, kept"
            }
            outcomes[outcome, default: 0] += 1
        }
        return outcomes
    }

    /// Effects that happened twice: two captures or two refunds of one order in the payments
    /// ledger, two movements of one kind for one order and SKU in the stock ledger (the audit's
    /// ``SagaAudit/duplicatedPayments(_:)`` and ``SagaAudit/duplicatedStockMovements(_:)``). A second
    /// capture at the card processor is the audit's reconciliation's to find (invariant 6: the
    /// processor would keep twice the total), which the run checks too.
    private func duplicatedEffects(_ fleet: SagaFleet) -> [String] {
        var found: [String] = []
        func check(_ service: String, _ effects: (PostgresConnection) throws -> [String]) {
            guard let url = fleet.databaseURLs[service] else { return }
            do {
                let database = try PostgresConnection(url: url, applicationName: "commerce-chaos")
                defer { database.close() }
                found += try effects(database)
            } catch {
                found.append("\(service): could not check (\(error))")
            }
        }
        check("payments") { try SagaAudit.duplicatedPayments($0).map(\.description) }
        check("inventory") { try SagaAudit.duplicatedStockMovements($0).map(\.description) }
        return found
    }

    private struct Letters {
        var byReason: [String: Int] = [:]
        var hostile = 0
        var unexpected: [String] = []
        var missing: [String] = []
    }

    /// Reads every dead-letter queue of the fleet without taking anything (the channel closes with
    /// the messages unacknowledged, so they stay for `commerce dlq`): counts by reason, and tells
    /// the hostile messages, which belong there, from anything else, which does not.
    private func deadLetters(
        _ fleet: SagaFleet, expected: [String: String], withoutID: [UnidentifiedLetter: String]
    ) -> Letters {
        var letters = Letters()
        var seen: Set<String> = []
        var seenWithoutID: Set<UnidentifiedLetter> = []
        // A connection of its own: the run restarted the broker under the first one.
        guard let amqp = try? AMQPConnection(configuration: settings.amqp), let channel = try? amqp.openChannel() else {
            letters.unexpected.append("could not read the dead-letter queues")
            return letters
        }
        defer { amqp.close() }
        for topology in fleet.topologies {
            while let delivery = try? amqp.get(channel: channel, queue: topology.deadLetterQueue, autoAck: false) {
                // Read as `commerce dlq` reads it: the runtime's x-error-reason, else the broker's x-death.
                let reason = DeadLetter(
                    queue: topology.deadLetterQueue, deliveryTag: delivery.deliveryTag,
                    properties: delivery.properties, body: delivery.body
                ).reason
                letters.byReason[reason, default: 0] += 1
                let id = delivery.properties.messageID ?? "?"
                let unidentified = UnidentifiedLetter(
                    deadLetterQueue: topology.deadLetterQueue, body: delivery.body)
                // Dead-lettering is at least once, like every move between queues: a copy killed
                // after the dead letter's confirm and before its ack gets the message again from
                // the broker and dead-letters it a second time. Two letters of one hostile message
                // are that, not a new failure.
                if expected[id] != nil {
                    letters.hostile += 1
                    seen.insert(id)
                } else if delivery.properties.messageID == nil, withoutID[unidentified] != nil {
                    letters.hostile += 1
                    seenWithoutID.insert(unidentified)
                } else {
                    letters.unexpected.append(
                        "\(topology.deadLetterQueue): \(delivery.properties.type ?? "?") \(id) "
                            + "order \(delivery.properties.correlationID ?? "?"): \(reason)")
                }
            }
        }
        letters.missing = expected.filter { !seen.contains($0.key) }.map { "\($0.value) (\($0.key))" }.sorted()
        letters.missing += withoutID.filter { !seenWithoutID.contains($0.key) }.map { "\($0.value) (no message id)" }
            .sorted()
        return letters
    }
}
