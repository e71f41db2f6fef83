import AMQP
import CommerceTestKit
import FleetOperations
import Foundation
import LocalProcess
import Mongo
import Postgres
import Testing
import WorkerRuntime

/// FleetOperations called as a library, the way a console would, against the real servers: the
/// setup of a fleet of the test's own, queue depths and the fleet status, and an order's history
/// with its timeline. The `commerce` binary's tests cover the same through the command line.
@Suite("FleetOperations: setup, status and an order's history")
struct FleetOperationsLibraryTests {
    @Test("setup declares a fleet's topology and migrates its stores; a second run finds everything")
    func setupTwice() async throws {
        try await offThePool {
            let suffix = TestServers.uniqueSuffix()
            let setup = FleetSetup(
                exchange: "fleet-ops-\(suffix)", retryDelays: [.seconds(1), .seconds(5)], queueSuffix: "-fo-\(suffix)")
            let (orders, inventory, payments) = (
                try TestDatabase(prefix: "fo_orders"), try TestDatabase(prefix: "fo_inventory"),
                try TestDatabase(prefix: "fo_payments")
            )
            let mongoDatabase = "fo_notifications_\(suffix)"
            let stores = FleetStores(
                orders: orders.url, inventory: inventory.url, payments: payments.url, mongoURL: TestServers.mongoURL,
                mongoDatabase: mongoDatabase)
            let amqp = try TestServers.amqp("fleet-ops-setup-test")
            defer {
                amqp.deleteFleet(setup.topologies.map(\.topology), exchange: setup.exchange)
                if let channel = try? amqp.openChannel() {
                    _ = try? amqp.deleteQueue(channel: channel, name: setup.presenceStream)
                }
                amqp.close()
                try? MongoClient(uri: TestServers.mongoURL).dropDatabase(mongoDatabase)
            }

            // The plan connects to nothing and names what a run declares.
            let plan = setup.plan
            #expect(plan.queues.allSatisfy { $0.state == .planned && $0.name.contains("-fo-\(suffix)") })
            // Each worker: its queue, one retry queue per delay, its dead-letter queue.
            #expect(plan.queues.count == FleetCatalog.workers.count * 4)
            #expect(plan.brokerIdentities.identities.contains { $0.party == "upstream" })

            let first = try setup.run(stores: stores, on: amqp, address: "the test broker")
            #expect(first.exchangeState == .created)
            #expect(first.queues.map(\.name) == plan.queues.map(\.name))
            #expect(first.queues.allSatisfy { $0.state == .created })
            #expect(first.databases.map(\.service) == ["orders", "inventory", "payments"])
            #expect(first.databases.allSatisfy { !$0.createdTables.isEmpty && $0.existingTables.isEmpty })
            #expect(first.databases[0].createdTables.contains("message_journal"))
            #expect(!first.mongo.createdIndexes.isEmpty)
            // The report never holds the test server's password.
            #expect(!first.databases[0].database.contains("commerce:commerce@"))
            // The presence stream the copies announce themselves on (a worker's user may not declare it).
            #expect(first.presence.name == "\(setup.exchange).presence" && first.presence.state == .created)

            let second = try setup.run(stores: stores, on: amqp, address: "the test broker")
            #expect(second.exchangeState == .exists)
            #expect(second.queues.allSatisfy { $0.state == .exists })
            #expect(second.databases.allSatisfy { $0.createdTables.isEmpty && !$0.existingTables.isEmpty })
            #expect(second.mongo.createdIndexes.isEmpty)
            #expect(second.presence.state == .exists)
        }
    }

    @Test("setup names a store it cannot migrate, its password redacted")
    func setupUnreachableStore() async throws {
        try await offThePool {
            let suffix = TestServers.uniqueSuffix()
            let setup = FleetSetup(exchange: "fleet-ops-\(suffix)", queueSuffix: "-fo-\(suffix)")
            let amqp = try TestServers.amqp("fleet-ops-setup-test")
            defer {
                amqp.deleteFleet(setup.topologies.map(\.topology), exchange: setup.exchange)
                if let channel = try? amqp.openChannel() {
                    _ = try? amqp.deleteQueue(channel: channel, name: setup.presenceStream)
                }
                amqp.close()
            }
            let port = try LocalPorts.free()
            let nowhere = "postgresql://someone:hunter2@127.0.0.1:\(port)/orders?connect_timeout=2"
            let stores = FleetStores(
                orders: nowhere, inventory: nowhere, payments: nowhere, mongoURL: TestServers.mongoURL,
                mongoDatabase: "unused")
            let failure = try #require(throws: OperationFailure.self) {
                try setup.run(stores: stores, on: amqp, address: "the test broker")
            }
            #expect(failure.description.contains("could not migrate the orders database at postgresql://someone:***@"))
            #expect(!failure.description.contains("hunter2"))
        }
    }

    @Test("count, replay and purge over sessions: a letter refused for its sender is never replayed")
    func replayAndPurge() async throws {
        try await offThePool {
            let amqp = try TestServers.amqp("fleet-ops-dlq-test")
            defer { amqp.close() }
            let channel = try amqp.openChannel()
            try amqp.enableConfirms(channel: channel)
            let queue = TestServers.uniqueName("fleet-ops-dlq")
            let deadLetters = queue + ".dlq"
            try amqp.declareScratchQueues([queue, deadLetters], channel: channel)
            defer { amqp.deleteScratchQueues([queue, deadLetters], channel: channel) }
            for (id, reason) in [("a", "probe_permanent"), ("b", "probe_permanent"), ("c", "forbidden_sender")] {
                let headers: AMQPTable = [
                    DeadLetterHeader.errorClass: "permanent", DeadLetterHeader.errorReason: .string(reason),
                    DeadLetterHeader.attempts: 1, DeadLetterHeader.originalQueue: .string(queue),
                ]
                _ = try amqp.publish(
                    channel: channel, exchange: "", routingKey: deadLetters,
                    properties: AMQPProperties(headers: headers, messageID: "\(queue)-\(id)"), body: Array("{}".utf8))
            }
            _ = try amqp.waitForConfirms(channel: channel, timeout: .seconds(10))
            func session() throws -> DeadLetterSession {
                try DeadLetterSession(
                    connection: try TestServers.amqp("fleet-ops-dlq-session"), address: "the test broker")
            }

            #expect(try session().count([deadLetters], filter: DeadLetterFilter(), limit: nil) == 3)
            #expect(try session().count([deadLetters], filter: DeadLetterFilter(), limit: 2) == 2)
            let run = try session().replay([deadLetters, queue + "-none.dlq"], filter: DeadLetterFilter(), limit: nil)
            #expect(run.replayed == 2 && run.failed == 1)
            #expect(run.missingQueues == [queue + "-none.dlq"])
            let refused = run.outcomes.first { $0.messageId == "\(queue)-c" }
            #expect(refused?.error?.contains("forbidden_sender") == true)
            #expect(run.outcomes.allSatisfy { $0.to == queue && $0.from == deadLetters })
            #expect(try amqp.queueStatus(channel: channel, name: queue).messageCount == 2, "the two copies")
            #expect(
                try amqp.queueStatus(channel: channel, name: deadLetters).messageCount == 1, "the refused one stays")
            #expect(
                try session().purge([deadLetters], filter: DeadLetterFilter(messageID: "\(queue)-x"), limit: nil) == 0)
            #expect(try session().purge([deadLetters], filter: DeadLetterFilter(), limit: nil) == 1)
            #expect(try amqp.queueStatus(channel: channel, name: deadLetters).messageCount == 0)
        }
    }

    @Test("queue depths and the fleet status read ready messages, dead letters and missing queues")
    func depthsAndStatus() async throws {
        try await offThePool {
            let amqp = try TestServers.amqp("fleet-ops-status-test")
            defer { amqp.close() }
            let channel = try amqp.openChannel()
            try amqp.enableConfirms(channel: channel)
            let queue = TestServers.uniqueName("fleet-ops-status")
            let topology = Topology(queue: queue, bindings: [], retryDelays: [.seconds(1)])
            try amqp.declareScratchQueues([queue, topology.deadLetterQueue], channel: channel)
            defer { amqp.deleteScratchQueues([queue, topology.deadLetterQueue], channel: channel) }
            for (name, count) in [(queue, 3), (topology.deadLetterQueue, 1)] {
                for index in 0..<count {
                    _ = try amqp.publish(
                        channel: channel, exchange: "", routingKey: name,
                        properties: AMQPProperties(messageID: "m-\(index)"), body: Array("{}".utf8))
                }
            }
            _ = try amqp.waitForConfirms(channel: channel, timeout: .seconds(10))
            let missing = TestServers.uniqueName("fleet-ops-missing")

            let depths = try QueueDepth.read([queue, missing], on: amqp, address: "the test broker")
            #expect(depths.map(\.name) == [queue, topology.deadLetterQueue, missing, missing + ".dlq"])
            #expect(depths[0].state == .present && depths[0].ready == 3 && depths[0].deadLettersOf == nil)
            #expect(depths[1].state == .present && depths[1].ready == 1 && depths[1].deadLettersOf == queue)
            #expect(depths[2].state == .missing && depths[3].state == .missing)

            // A port nothing listens on: the worker copy is reported as not answering, or left out.
            let silent = WorkerEndpoint(host: "127.0.0.1", port: try LocalPorts.free())
            let status = try FleetStatus.sample(
                queues: [queue, queue], retryDelays: [.seconds(1)], endpoints: [silent], omitSilent: false,
                interval: .milliseconds(100), on: amqp, address: "the test broker")
            #expect(status.broker == "the test broker")
            #expect(status.queues.count == 1)
            let sampled = try #require(status.queues.first)
            #expect(sampled.state == .present && sampled.ready == 3 && sampled.readyChange == 0)
            #expect(sampled.deadLetterQueue.name == topology.deadLetterQueue && sampled.deadLetterQueue.ready == 1)
            #expect(sampled.retryQueues.map(\.state) == [.missing])
            #expect(sampled.handledPerSecond == nil)
            #expect(status.workers.count == 1 && status.workers[0].reachable == false && status.workers[0].error != nil)

            let quiet = try FleetStatus.sample(
                queues: [queue], retryDelays: [.seconds(1)], endpoints: [silent], omitSilent: true,
                interval: .milliseconds(100), on: amqp, address: "the test broker")
            #expect(quiet.workers.isEmpty)
            #expect(WorkerEndpoint(url: "http://127.0.0.1:9191/")?.port == 9191)
            #expect(WorkerEndpoint(url: "https://127.0.0.1:9191") == nil)
        }
    }

    @Test("an order's history: a dead letter of the saga joins the timeline, a store not read is named")
    func orderHistory() async throws {
        try await offThePool {
            let orders = try TestDatabase(prefix: "fo_history")
            let migrated = try TestServers.postgres(url: orders.url)
            try RuntimeSchema.migrate(migrated)
            migrated.close()
            let port = try LocalPorts.free()
            let nowhere = "postgresql://someone:hunter2@127.0.0.1:\(port)/payments?connect_timeout=2"
            let stores = FleetStores(
                orders: orders.url, inventory: orders.url, payments: nowhere, mongoURL: TestServers.mongoURL,
                mongoDatabase: "fo_history_\(TestServers.uniqueSuffix())")
            let id = "order-\(TestServers.uniqueSuffix())"
            let letter = DeadLetter(
                queue: "order-worker.dlq", deliveryTag: 1,
                properties: AMQPProperties(
                    headers: [
                        DeadLetterHeader.errorClass: .string("permanent"),
                        DeadLetterHeader.errorReason: .string("invalid_body"),
                        DeadLetterHeader.originalQueue: .string("order-worker"),
                        DeadLetterHeader.failedAt: .string("2026-12-03T10:00:00.250Z"),
                    ], correlationID: id, messageID: "m-1", type: "order.place"),
                body: Array("{".utf8))
            let other = DeadLetter(
                queue: "order-worker.dlq", deliveryTag: 2,
                properties: AMQPProperties(correlationID: "another order", messageID: "m-2", type: "order.place"),
                body: [])

            let history = OrderHistory.read(
                id, stores: stores, applicationName: "fleet-ops-test", deadLetters: { [letter, other] })
            #expect(history.order == nil)
            #expect(!history.isUnknown)
            #expect(history.timeline.steps.count == 1)
            let step = try #require(history.timeline.steps.first)
            #expect(step.event == "dead_lettered" && step.source == "dlq" && step.messageId == "m-1")
            #expect(step.inDeadLetterQueue && step.reason == "invalid_body" && step.queue == "order-worker")
            #expect(history.problems.count == 1)
            #expect(history.problems.first?.hasPrefix("the payments database at postgresql://someone:***@") == true)
            #expect(history.problems.allSatisfy { !$0.contains("hunter2") })

            struct Refused: Error, CustomStringConvertible { var description: String { "no broker" } }
            let unread = OrderHistory.read(
                id, stores: stores, applicationName: "fleet-ops-test", deadLetters: { throw Refused() })
            #expect(unread.problems.contains("the dead-letter queues: no broker"))
            let journalsOnly = OrderHistory.read(
                "unknown-\(id)",
                stores: FleetStores(
                    orders: orders.url, inventory: orders.url, payments: orders.url, mongoURL: TestServers.mongoURL,
                    mongoDatabase: stores.mongoDatabase), applicationName: "fleet-ops-test", deadLetters: nil)
            #expect(journalsOnly.isUnknown)
        }
    }

    @Test("the timeline orders the steps of several stores and links each to its cause")
    func timelineAssembly() {
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        func entry(
            _ direction: JournalEntry.Direction, _ outcome: JournalEntry.Outcome, _ id: String, cause: String?,
            _ type: String, queue: String, app: String, at seconds: Double
        ) -> JournalEntry {
            JournalEntry(
                direction: direction, outcome: outcome, messageID: id, correlationID: "o-1", causationID: cause,
                type: type, sender: direction == .incoming ? "upstream" : nil, queue: queue, app: app, host: "h",
                pid: 1, version: "1", attempts: 0, receivedAt: start.addingTimeInterval(seconds - 0.01),
                committedAt: start.addingTimeInterval(seconds))
        }
        // The stock-worker's store first, to check that the steps are put in time order.
        let timeline = SagaTimeline(
            correlationID: "o-1",
            sources: [
                .init(
                    name: "inventory",
                    entries: [
                        entry(
                            .incoming, .applied, "m-2", cause: "m-1", "order.placed", queue: "stock", app: "stock",
                            at: 2)
                    ]),
                .init(
                    name: "orders",
                    entries: [
                        // Emitted at the commit of the handling that caused it: after it, at the same time.
                        entry(
                            .outgoing, .emitted, "m-2", cause: "m-1", "order.placed", queue: "orders", app: "order",
                            at: 1),
                        entry(
                            .incoming, .applied, "m-1", cause: nil, "order.place", queue: "orders", app: "order", at: 1),
                        entry(
                            .incoming, .applied, "x-1", cause: nil, "order.place", queue: "orders", app: "order", at: 1
                        )
                        .with(correlationID: "o-2"),
                    ]),
            ], deadLetters: [])
        #expect(timeline.steps.map(\.messageId) == ["m-1", "m-2", "m-2"])
        #expect(timeline.steps.map(\.event) == ["handled", "emitted", "handled"])
        #expect(timeline.steps.map(\.causedByStep) == [nil, 1, 2])
        #expect(timeline.steps.map(\.source) == ["orders", "orders", "inventory"])
        #expect(timeline.steps[2].sinceCauseMs == 1000 && timeline.steps[2].handlingMs == 10)
        #expect(timeline.durationMs == 1000)
    }
}

extension JournalEntry {
    fileprivate func with(correlationID: String) -> JournalEntry {
        var copy = self
        copy.correlationID = correlationID
        return copy
    }
}
