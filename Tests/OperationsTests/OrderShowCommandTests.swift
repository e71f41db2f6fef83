import AMQP
import CommerceMessages
import CommerceTestKit
import Foundation
import Inventory
import Mongo
import Testing

/// `commerce order show`, `commerce order list` and `commerce dlq replay --edit`, run as the built
/// binary against the four workers of `SagaDriver.startFleet` on an exchange, queues and stores of
/// the test's own: the timeline is read back from the workers' message journals and the DLQs.
@Suite("commerce order show, order list and dlq replay --edit", .serialized)
struct OrderShowCommandTests {
    private let workers = ["order-worker", "stock-worker", "payment-worker", "notification-worker"]

    /// The options that point the command at the fixture's stores and queues.
    private func sources(_ fixture: ServiceFixture) throws -> [String] {
        [
            "--orders-database", try fixture.databaseURL(for: "orders"),
            "--inventory-database", try fixture.databaseURL(for: "inventory"),
            "--payments-database", try fixture.databaseURL(for: "payments"),
            "--mongo-url", TestServers.mongoURL, "--mongo-database", fixture.mongoDatabase,
            "--amqp-url", TestServers.amqpURL,
        ] + workers.flatMap { ["--queue", "\($0)-\(fixture.suffix)"] }
    }

    /// `commerce order show ID --json`: the timeline's steps.
    private func steps(_ fixture: ServiceFixture, _ id: String) throws -> [[String: Any]] {
        let run = try runCommerce(["order", "show", id, "--json"] + sources(fixture))
        #expect(run.status == 0, "\(run.stderr)")
        return (try run.requiredJSON()["timeline"] as? [String: Any])?["steps"] as? [[String: Any]] ?? []
    }

    /// Waits until the timeline of `id` has a `handled` step of every type in `types` (the
    /// trailing steps of a saga follow its terminal event).
    private func settledSteps(_ fixture: ServiceFixture, _ id: String, handled types: [String: Int]) throws
        -> [[String: Any]]
    {
        try waitUntil("the timeline of \(id) to hold \(types)", timeout: .seconds(30), poll: .milliseconds(300)) {
            try steps(fixture, id)
        } until: { steps in
            types.allSatisfy { type, count in
                steps.filter { $0["event"] as? String == "handled" && $0["type"] as? String == type }.count >= count
            }
        }
    }

    private func step(_ steps: [[String: Any]], _ number: Int?) -> [String: Any]? {
        guard let number else { return nil }
        return steps.first { $0["step"] as? Int == number }
    }

    @Test("the timeline of a declined order, a retried charge and a dead letter fixed with --edit; order list filters")
    func timelines() async throws {
        try await offThePool {
            // One HTTP attempt per gateway call, so tok_transient_2's failures reach the runtime's retries.
            let (fixture, _) = try SagaDriver().startFleet(
                stock: [StockSeed(sku: "KB-001", quantity: 100)],
                extra: ["payment-worker": ["PAYMENT_HTTP_MAX_ATTEMPTS": "1"]])
            defer { try? MongoClient(uri: TestServers.mongoURL).dropDatabase(fixture.mongoDatabase) }
            let pids = Dictionary(
                uniqueKeysWithValues: zip(workers, fixture.workers.map { Int($0.process.processIdentifier) }))

            // A declined card: payment.failed, the stock released, the order cancelled, a notification.
            let declined = SagaDriver().order([("KB-001", 1, 60_000)], token: "tok_decline")
            let placeID = try fixture.publish(declined)
            let transient = SagaDriver().order([("KB-001", 1, 60_000)], token: "tok_transient_2")
            try fixture.publish(transient)
            _ = try SagaDriver().terminalEvents(fixture, count: 2)
            let timeline = try settledSteps(
                fixture, declined.orderID,
                handled: [
                    "order.place": 1, "order.placed": 1, "stock.reserved": 2, "payment.failed": 2,
                    "stock.released": 1, "order.cancelled": 3,
                ])

            // Every step names its worker copy; every message but the upstream command names its cause.
            for step in timeline {
                let app = step["app"] as? String ?? ""
                #expect(step["pid"] as? Int == pids[app], "step \(step) ran in \(app) (pid \(pids[app] ?? -1))")
                #expect(step["host"] as? String == ProcessInfo.processInfo.hostName)
            }
            let first = try #require(timeline.first)
            #expect(first["event"] as? String == "handled" && first["type"] as? String == "order.place")
            #expect(first["message_id"] as? String == placeID && first["caused_by_step"] == nil)
            #expect(first["sender"] as? String == "service-test" && first["app"] as? String == "order-worker")
            /// What emitted each type, and what the emitting worker had handled.
            let chain = [
                "order.placed": ("order-worker", "order.place"), "stock.reserved": ("stock-worker", "order.placed"),
                "payment.failed": ("payment-worker", "stock.reserved"),
                "stock.released": ("stock-worker", "payment.failed"),
                "order.cancelled": ("order-worker", "payment.failed"),
            ]
            for (type, (app, causeType)) in chain {
                let emitted = try #require(
                    timeline.first { $0["event"] as? String == "emitted" && $0["type"] as? String == type },
                    "\(type) emitted")
                #expect(emitted["app"] as? String == app)
                let cause = step(timeline, emitted["caused_by_step"] as? Int)
                #expect(cause?["event"] as? String == "handled" && cause?["type"] as? String == causeType, "\(type)")
                #expect(
                    cause?["app"] as? String == app
                        && cause?["message_id"] as? String == emitted["causation_id"] as? String
                )
                #expect((emitted["step"] as? Int ?? 0) > (cause?["step"] as? Int ?? .max), "a cause comes first")
                // Every copy of the message handled downstream points back at this emission.
                for handled in timeline
                where handled["event"] as? String == "handled" && handled["type"] as? String == type {
                    #expect(handled["caused_by_step"] as? Int == emitted["step"] as? Int)
                    #expect(handled["message_id"] as? String == emitted["message_id"] as? String)
                }
            }
            let notified = timeline.first { $0["app"] as? String == "notification-worker" }
            #expect(notified?["type"] as? String == "order.cancelled" && notified?["event"] as? String == "handled")
            #expect(timeline.allSatisfy { ($0["since_previous_ms"] as? Int ?? -1) >= 0 }, "in time order")

            // The text form: an aligned table with the causes and the worker copies.
            let text = try runCommerce(["order", "show", declined.orderID] + sources(fixture))
            #expect(text.status == 0, "\(text.stderr)")
            for expected in [
                "CANCELLED (payment_declined)", "KB-001", "total", "# ", "CAUSE", "WORKER COPY", "upstream",
                "payment-worker@\(ProcessInfo.processInfo.hostName) (pid \(pids["payment-worker"]!))",
            ] {
                #expect(text.stdout.contains(expected), "'\(expected)' in:\n\(text.stdout)")
            }

            // The card that fails twice: two retries of the charge, then the charge on attempt 3.
            let retried = try settledSteps(fixture, transient.orderID, handled: ["order.confirmed": 2])
            let retries = retried.filter { $0["event"] as? String == "retry_scheduled" }
            #expect(retries.count == 2, "\(retries)")
            #expect(
                retries.allSatisfy {
                    $0["app"] as? String == "payment-worker" && $0["type"] as? String == "stock.reserved"
                }
            )
            #expect(retries.map { $0["retry_delay_ms"] as? Int } == [300, 600])
            let charged = retried.first {
                $0["event"] as? String == "handled" && $0["app"] as? String == "payment-worker"
            }
            #expect(charged?["attempt"] as? Int == 3)

            // A command that names no order (its id under a key the contract does not know) is
            // dead-lettered; --edit fixes it and the saga completes.
            let broken = SagaDriver().order([("KB-001", 2, 60_000)])
            let body = String(decoding: broken.encodedBody(), as: UTF8.self)
            #expect(body.contains(#""order_id":"#))
            let brokenID = Envelope.newMessageID()
            try fixture.amqp.publish(
                channel: fixture.channel, exchange: fixture.exchange, routingKey: "order.place",
                properties: AMQPProperties(
                    contentType: "application/json", deliveryMode: 2, correlationID: broken.orderID,
                    messageID: brokenID,
                    timestamp: UInt64(Date().timeIntervalSince1970), type: "order.place", appID: "service-test"),
                body: Array(body.replacingOccurrences(of: #""order_id":"#, with: #""orderId":"#).utf8))
            _ = try fixture.amqp.waitForConfirms(channel: fixture.channel, timeout: .seconds(30))
            let orderDLQ = "order-worker-\(fixture.suffix).dlq"
            try waitUntil("the broken command in \(orderDLQ)", { try fixture.depth(orderDLQ) }) { $0 == 1 }
            let deadSteps = try steps(fixture, broken.orderID)
            let dead = deadSteps.first { $0["event"] as? String == "dead_lettered" }
            #expect(dead?["message_id"] as? String == brokenID && dead?["in_dead_letter_queue"] as? Bool == true)
            #expect(
                dead?["error_class"] as? String == "permanent" && dead?["source"] as? String == "orders", "\(deadSteps)"
            )
            let unknownOrder = try runCommerce(["order", "show", broken.orderID] + sources(fixture))
            #expect(unknownOrder.stdout.contains("not in the orders database"), "\(unknownOrder.stdout)")

            let replay = [
                "dlq", "replay", brokenID, "--edit", "--queue", "order-worker-\(fixture.suffix)",
                "--amqp-url", TestServers.amqpURL,
            ]
            let directory = FileManager.default.temporaryDirectory
            func editor(_ name: String, _ script: String) throws -> String {
                let url = directory.appendingPathComponent("editor-\(name)-\(fixture.suffix).sh")
                try Data("#!/bin/sh\n\(script)\n".utf8).write(to: url)
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: url.path)
                return url.path
            }
            let unchanged = try runCommerce(replay, environment: ["EDITOR": "true", "VISUAL": ""])
            #expect(unchanged.status == 1 && unchanged.stderr.contains("not changed"), "\(unchanged.stderr)")
            let garbled = try runCommerce(
                replay, environment: ["EDITOR": try editor("garble", #"echo '{"order_id": ' > "$1""#), "VISUAL": ""])
            #expect(garbled.status == 1 && garbled.stderr.contains("not valid JSON"), "\(garbled.stderr)")
            #expect(try fixture.depth(orderDLQ) == 1, "a refused edit replays nothing")
            let fix = try editor("fix", #"sed -E -i 's/"orderId"/"order_id"/' "$1""#)
            let fixed = try runCommerce(replay + ["--json"], environment: ["EDITOR": fix, "VISUAL": ""])
            #expect(fixed.status == 0, "\(fixed.stdout) \(fixed.stderr)")
            #expect(try fixed.requiredJSON()["replayed"] as? Int == 1)
            let ended = try SagaDriver().terminalEvents(fixture, count: 1)
            guard case .orderConfirmed? = ended[broken.orderID]?.last else {
                Issue.record("the fixed order should be confirmed: \(ended)")
                return
            }
            #expect(try fixture.depth(orderDLQ) == 0)
            let after = try settledSteps(fixture, broken.orderID, handled: ["order.place": 1, "order.confirmed": 2])
            let handledPlace = after.first {
                $0["event"] as? String == "handled" && $0["type"] as? String == "order.place"
            }
            let deadNow = after.first { $0["event"] as? String == "dead_lettered" }
            #expect(handledPlace?["message_id"] as? String == brokenID, "the replay keeps the message id")
            #expect(deadNow?["in_dead_letter_queue"] as? Bool == false)
            #expect((deadNow?["step"] as? Int ?? .max) < (handledPlace?["step"] as? Int ?? 0))

            // order list: newest first, filtered by state and time, limited.
            let ordersDB = ["--orders-database", try fixture.databaseURL(for: "orders")]
            func listed(_ arguments: [String]) throws -> [String: Any] {
                let run = try runCommerce(["order", "list", "--json"] + arguments + ordersDB)
                #expect(run.status == 0, "\(run.stderr)")
                return try run.requiredJSON()
            }
            func ids(_ report: [String: Any]) -> [String] {
                (report["orders"] as? [[String: Any]] ?? []).compactMap { $0["order_id"] as? String }
            }
            // The fixed order is the newest; the other two may share a batch, hence one created_at.
            let all = ids(try listed([]))
            #expect(
                all.first == broken.orderID && Set(all.dropFirst()) == [transient.orderID, declined.orderID], "\(all)")
            #expect(ids(try listed(["--state", "cancelled"])) == [declined.orderID])
            #expect(ids(try listed(["--state", "CONFIRMED"])) == [broken.orderID, transient.orderID])
            let limited = try listed(["--limit", "1"])
            #expect(ids(limited) == [broken.orderID] && limited["truncated"] as? Bool == true)
            #expect(ids(try listed(["--since", "2099-01-01T00:00:00Z"])).isEmpty)
            #expect(ids(try listed(["--since", "1h", "--state", "PENDING"])).isEmpty)
            let table = try runCommerce(["order", "list"] + ordersDB)
            #expect(table.status == 0)
            #expect(table.stdout.contains("STATUS") && table.stdout.contains("payment_declined"), "\(table.stdout)")
            #expect(try runCommerce(["order", "list", "--state", "shipped"] + ordersDB).status == 64)
            #expect(try runCommerce(["order", "list", "--limit", "0"] + ordersDB).status == 64)

            // An id nobody knows.
            let unknown = try runCommerce(["order", "show", "no-such-order"] + sources(fixture))
            #expect(unknown.status == 1)
            #expect(unknown.stderr.contains("Error: no order 'no-such-order'"), "\(unknown.stderr)")
        }
    }
}
