import AMQP
import CommerceMessages
import CommerceTestKit
import Foundation
import Inventory
import Mongo
import Testing
import WorkerRuntime

/// W3C trace context across the saga (docs/operations.md, "Tracing"): the four workers and the
/// payment-gateway as processes exporting to a small OTLP/HTTP receiver, the order placed with
/// the built `commerce place-order`, and its trace read back from the receiver and from
/// `commerce order show`.
@Suite("Tracing: one trace per order, exported over OTLP")
struct TracingTests {
    private static let workers = ["order-worker", "stock-worker", "payment-worker", "notification-worker"]
    private static let services = Set(workers + ["payment-gateway"])

    @Test("one order's spans form one trace across the four workers and the payment-gateway")
    func oneTraceAcrossTheFleet() async throws {
        try await offThePool {
            let receiver = try OTLPReceiver()
            let tracing = ["TRACING_OTLP_ENDPOINT": receiver.endpoint, "TRACING_EXPORT_INTERVAL_MS": "200"]
            let saga = SagaDriver()
            let (fixture, _) = try saga.startFleet(
                stock: [StockSeed(sku: "KB-001", quantity: 10)],
                extra: Dictionary(uniqueKeysWithValues: Self.workers.map { ($0, tracing) }),
                gatewayEnvironment: tracing)
            defer { try? MongoClient(uri: TestServers.mongoURL).dropDatabase(fixture.mongoDatabase) }

            let order = saga.order([("KB-001", 1, 60_000)])
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("trace-\(fixture.suffix).json")
            try Data(order.encodedBody()).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            let placed = try runCommerce(
                [
                    "place-order", "--file", file.path, "--exchange", fixture.exchange, "--amqp-url",
                    TestServers.amqpURL, "--json",
                ], environment: ["OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint])
            #expect(placed.status == 0, "\(placed.stderr)")
            let orders = try placed.requiredJSON()["orders"] as? [[String: Any]] ?? []
            let traceID = try #require(orders.first?["trace_id"] as? String, "no trace id in \(placed.stdout)")
            #expect(traceID.count == 32)

            let events = try saga.terminalEvents(fixture, count: 1)
            guard case .orderConfirmed? = events[order.orderID]?.last else {
                Issue.record("expected order.confirmed, got \(String(describing: events[order.orderID]))")
                return
            }

            // Spans arrive from six processes at their own pace: wait until every service has
            // sent its spans of this trace and no parent is missing.
            let trace = try waitUntil(
                "the order's trace from every process", timeout: .seconds(30), poll: .milliseconds(200)
            ) {
                receiver.spans.filter { $0.traceID == traceID }
            } until: { spans in
                let ids = Set(spans.map(\.spanID))
                return Self.services.isSubset(of: Set(spans.map(\.service)))
                    && spans.allSatisfy { $0.parentSpanID.map(ids.contains) ?? true }
                    && spans.contains { $0.service == "notification-worker" && $0.name == "handle order.confirmed" }
            }
            let byID = Dictionary(trace.map { ($0.spanID, $0) }) { first, _ in first }
            #expect(Self.services.isSubset(of: Set(trace.map(\.service))), "services: \(Set(trace.map(\.service)))")
            #expect(Set(trace.map(\.service)).isSubset(of: Self.services.union(["commerce"])))
            // One root: the command's publish span; every other span's parent is in the trace.
            let roots = trace.filter { $0.parentSpanID == nil }
            #expect(roots.count == 1, "roots: \(roots)")
            #expect(roots.first?.service == "commerce" && roots.first?.name == "publish order.place")
            for span in trace {
                if let parent = span.parentSpanID {
                    #expect(byID[parent] != nil, "\(span.service) \(span.name): parent \(parent) not in the trace")
                }
            }
            // Each message is handled under the span that published it.
            let handled = trace.filter { $0.name.hasPrefix("handle ") }
            #expect(Set(handled.map(\.service)) == Set(Self.workers))
            for span in handled {
                let type = span.name.dropFirst("handle ".count)
                let parent = span.parentSpanID.flatMap { byID[$0] }
                #expect(
                    parent?.name == "publish \(type)" && parent?.kind == 4 && span.kind == 5,
                    "\(span.service) \(span.name) under \(String(describing: parent))")
            }
            for type in ["order.place", "order.placed", "stock.reserved", "payment.succeeded", "order.confirmed"] {
                #expect(handled.contains { $0.name == "handle \(type)" }, "no span handles \(type)")
            }
            // The charge: the payment-worker's client span, and the gateway's server span under it.
            let gateway = trace.filter { $0.service == "payment-gateway" }
            #expect(!gateway.isEmpty)
            for span in gateway {
                let client = span.parentSpanID.flatMap { byID[$0] }
                #expect(
                    client?.service == "payment-worker" && client?.kind == 3,
                    "gateway span under \(String(describing: client))")
                #expect(span.kind == 2)
            }
            // Each batch span of a worker is a trace of its own, linked to its messages' contexts.
            let publishIDs = Set(trace.filter { $0.name.hasPrefix("publish ") }.map(\.spanID))
            let batches = receiver.spans.filter { $0.name.hasPrefix("consume ") && $0.parentSpanID == nil }
            for worker in Self.workers {
                #expect(
                    batches.contains {
                        $0.service == worker && $0.traceID != traceID && !publishIDs.isDisjoint(with: $0.links)
                    },
                    "no batch span of \(worker) links to the order's messages")
            }

            // `commerce order show` names the same trace, read from the message journal.
            let show = try runCommerce(
                [
                    "order", "show", order.orderID, "--json",
                    "--orders-database", try fixture.databaseURL(for: "orders"),
                    "--inventory-database", try fixture.databaseURL(for: "inventory"),
                    "--payments-database", try fixture.databaseURL(for: "payments"),
                    "--mongo-url", TestServers.mongoURL, "--mongo-database", fixture.mongoDatabase,
                    "--amqp-url", TestServers.amqpURL,
                ] + Self.workers.flatMap { ["--queue", "\($0)-\(fixture.suffix)"] })
            #expect(show.status == 0, "\(show.stderr)")
            let timeline = try show.requiredJSON()["timeline"] as? [String: Any]
            #expect(timeline?["trace_id"] as? String == traceID, "order show: \(show.stdout.prefix(400))")
            let text = try runCommerce(
                [
                    "order", "show", order.orderID, "--orders-database", try fixture.databaseURL(for: "orders"),
                    "--inventory-database", try fixture.databaseURL(for: "inventory"),
                    "--payments-database", try fixture.databaseURL(for: "payments"),
                    "--mongo-url", TestServers.mongoURL, "--mongo-database", fixture.mongoDatabase,
                    "--amqp-url", TestServers.amqpURL,
                ])
            #expect(text.stdout.contains("Trace: \(traceID)"), "\(text.stdout.prefix(600))")
        }
    }

    @Test("off by default: nothing is exported, a valid context is forwarded as it is, a malformed one dropped")
    func offByDefault() async throws {
        try await offThePool {
            // On OTLP's default port, so that a worker exporting without being told to would be seen.
            let receiver = try (try? OTLPReceiver(port: 4318)) ?? OTLPReceiver()
            let fixture = try ServiceFixture(watching: [.orderPlaced])
            try fixture.startWorker("order-worker", ["DATABASE_URL": try fixture.databaseURL(for: "orders")])
            let saga = SagaDriver()
            let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let traced = saga.order([("KB-001", 1, 60_000)])
            let malformed = saga.order([("KB-001", 1, 60_000)])
            try fixture.publish(traced, headers: ["traceparent": .string(valid), "tracestate": .string("vendor=1")])
            try fixture.publish(
                malformed, headers: ["traceparent": .string("00-NOT-A-TRACE-01"), "tracestate": .string("vendor=2")])

            let placed = try Self.deliveries(fixture, count: 2)
            let byOrder = Dictionary(placed.map { ($0.properties.correlationID ?? "", $0) }) { first, _ in first }
            let forwarded = byOrder[traced.orderID]?.properties.headers
            #expect(forwarded?["traceparent"]?.stringValue == valid)
            #expect(forwarded?["tracestate"]?.stringValue == "vendor=1")
            let dropped = try #require(byOrder[malformed.orderID], "the malformed traceparent's order was not placed")
            #expect(dropped.properties.headers["traceparent"] == nil)
            #expect(dropped.properties.headers["tracestate"] == nil)
            #expect(try fixture.deadLetters(of: "order-worker").isEmpty)
            // Longer than the default export interval (1 s): a worker exporting would have sent by now.
            Thread.sleep(forTimeInterval: 2)
            #expect(receiver.requestCount == 0, "a worker exported spans with tracing off")
        }
    }

    @Test("tracing on: a malformed traceparent starts a new trace instead of failing the message")
    func malformedStartsNewTrace() async throws {
        try await offThePool {
            let receiver = try OTLPReceiver()
            let fixture = try ServiceFixture(watching: [.orderPlaced])
            try fixture.startWorker(
                "order-worker",
                [
                    "DATABASE_URL": try fixture.databaseURL(for: "orders"),
                    "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "TRACING_EXPORT_INTERVAL_MS": "200",
                ])
            let saga = SagaDriver()
            let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let traced = saga.order([("KB-001", 1, 60_000)])
            let malformed = [
                "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  // upper case
                "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
                "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // version ff
                String(repeating: "x", count: 4096),
            ]
            let broken = malformed.map { _ in saga.order([("KB-001", 1, 60_000)]) }
            let tracedID = try fixture.publish(traced, headers: ["traceparent": .string(valid)])
            var brokenIDs: [String: String] = [:]
            for (order, header) in zip(broken, malformed) {
                brokenIDs[order.orderID] = try fixture.publish(order, headers: ["traceparent": .string(header)])
            }

            let placed = try Self.deliveries(fixture, count: 1 + broken.count)
            #expect(try fixture.deadLetters(of: "order-worker").isEmpty)
            let byOrder = Dictionary(placed.map { ($0.properties.correlationID ?? "", $0) }) { first, _ in first }
            let continued = byOrder[traced.orderID]?.properties.headers["traceparent"]?.stringValue
            #expect(
                continued?.hasPrefix("00-4bf92f3577b34da6a3ce929d0e0e4736-") == true, "\(String(describing: continued))"
            )
            #expect(continued != valid, "the event should carry the worker's own span, not the upstream's")
            for order in broken {
                let header = try #require(
                    byOrder[order.orderID]?.properties.headers["traceparent"]?.stringValue,
                    "order \(order.orderID) not placed with a trace context")
                let parts = header.split(separator: "-")
                #expect(parts.count == 4 && parts[1].count == 32 && parts[1] != "4bf92f3577b34da6a3ce929d0e0e4736")
            }
            let handled = try waitUntil("the handle spans", timeout: .seconds(20), poll: .milliseconds(200)) {
                receiver.spans.filter { $0.name == "handle order.place" }
            } until: {
                $0.count >= 1 + broken.count
            }
            let tracedSpan = handled.first { $0.attributes["messaging.message.id"] == tracedID }
            #expect(tracedSpan?.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
            #expect(tracedSpan?.parentSpanID == "00f067aa0ba902b7")
            for (orderID, messageID) in brokenIDs {
                let span = handled.first { $0.attributes["messaging.message.id"] == messageID }
                #expect(span != nil && span?.parentSpanID == nil, "order \(orderID): \(String(describing: span))")
            }
        }
    }

    @Test("a collector that hangs: spans beyond the bounded queue are dropped and counted, messages go on")
    func hangingCollector() async throws {
        try await offThePool {
            let collector = try OTLPReceiver(silent: true)
            let fixture = try ServiceFixture(watching: [.orderPlaced])
            let worker = try fixture.startWorker(
                "order-worker",
                [
                    "DATABASE_URL": try fixture.databaseURL(for: "orders"),
                    "TRACING_OTLP_ENDPOINT": collector.endpoint, "TRACING_QUEUE_CAPACITY": "4",
                    "TRACING_MAX_BATCH_SIZE": "2", "TRACING_EXPORT_INTERVAL_MS": "100",
                    "TRACING_EXPORT_TIMEOUT_MS": "1000",
                ])
            let saga = SagaDriver()
            let orders = (0..<20).map { _ in saga.order([("KB-001", 1, 60_000)]) }
            for order in orders { try fixture.publish(order) }
            // Every order is handled although no export ever completes.
            let placed = try Self.deliveries(fixture, count: orders.count)
            #expect(Set(placed.compactMap(\.properties.correlationID)) == Set(orders.map(\.orderID)))
            #expect(try fixture.deadLetters(of: "order-worker").isEmpty)
            // A failed export drops its batch (2 spans) too: more drops than that came from the full queue.
            let metrics = try waitUntil("dropped spans and failed exports counted", timeout: .seconds(20)) {
                worker.http("/metrics")?.1 ?? ""
            } until: {
                let failures = metricValue($0, "commerce_tracing_export_failures_total") ?? 0
                return failures > 0 && (metricValue($0, "commerce_tracing_spans_dropped_total") ?? 0) > 2 * failures
            }
            #expect(metricValue(metrics, "commerce_tracing_spans_exported_total") ?? 0 == 0)
            #expect(worker.http("/health/ready")?.0 == 200)
        }
    }

    @Test("a collector that wants credentials gets them as headers on every export, from a file too")
    func collectorCredentials() async throws {
        try await offThePool {
            let collector = try OTLPReceiver(requiredAuthorization: "Bearer t0ken==")
            let fixture = try ServiceFixture(watching: [.orderPlaced])
            let secret = FileManager.default.temporaryDirectory.appendingPathComponent("otlp-\(fixture.suffix)")
            try Data("authorization=Bearer%20t0ken%3D%3D\n".utf8).write(to: secret)
            defer { try? FileManager.default.removeItem(at: secret) }
            let worker = try fixture.startWorker(
                "order-worker",
                [
                    "DATABASE_URL": try fixture.databaseURL(for: "orders"),
                    "TRACING_OTLP_ENDPOINT": collector.endpoint, "TRACING_EXPORT_INTERVAL_MS": "100",
                    "TRACING_OTLP_HEADERS_FILE": secret.path,
                ])
            let order = SagaDriver().order([("KB-001", 1, 60_000)])
            try fixture.publish(order)
            _ = try Self.deliveries(fixture, count: 1)
            let spans = try waitUntil("the worker's spans at the collector", timeout: .seconds(20)) {
                collector.spans
            } until: {
                !$0.isEmpty
            }
            #expect(spans.allSatisfy { $0.service == "order-worker" })
            #expect(collector.unauthorizedCount == 0, "an export came without the credentials")
            #expect(metricValue(worker.http("/metrics")?.1 ?? "", "commerce_tracing_export_failures_total") ?? 0 == 0)
            #expect(!worker.log.contains("t0ken"), "the credentials are in the worker's log")
        }
    }

    @Test(
        "an event of periodic work (the saga deadline's cancellation) starts a trace of its own, under a periodic span")
    func periodicWorkIsTraced() async throws {
        try await offThePool {
            let receiver = try OTLPReceiver()
            let fixture = try ServiceFixture(watching: [.orderCancelled])
            _ = try fixture.startWorker(
                "order-worker",
                [
                    "DATABASE_URL": try fixture.databaseURL(for: "orders"), "TRACING_OTLP_ENDPOINT": receiver.endpoint,
                    "TRACING_EXPORT_INTERVAL_MS": "100", "SAGA_DEADLINE_MS": "1000", "SAGA_SWEEP_INTERVAL_MS": "200",
                ])
            // No stock-worker: the order stays PENDING until its deadline cancels it.
            let order = SagaDriver().order([("KB-001", 1, 60_000)])
            try fixture.publish(order)
            let cancelled = try Self.deliveries(fixture, count: 1)[0]
            let header = try #require(
                cancelled.properties.headers["traceparent"]?.stringValue, "order.cancelled carries no traceparent")
            // version-traceid-spanid-flags
            let fields = header.split(separator: "-").map(String.init)
            try #require(fields.count == 4, "not a traceparent: \(header)")
            let (traceID, spanID) = (fields[1], fields[2])
            let periodic = try waitUntil("the periodic span", timeout: .seconds(20)) {
                receiver.spans.filter { $0.traceID == traceID && $0.name.hasPrefix("periodic ") }
            } until: {
                !$0.isEmpty
            }
            #expect(periodic.count == 1)
            #expect(periodic.first?.parentSpanID == nil, "the periodic span is the root of its trace")
            #expect(periodic.first?.spanID == spanID, "the event is the periodic span's child")
        }
    }

    /// Waits until the watch queue holds `count` messages and takes them.
    private static func deliveries(_ fixture: ServiceFixture, count: Int) throws -> [AMQPDelivery] {
        try waitUntil("\(count) order.placed on the watch queue", timeout: .seconds(30)) {
            try fixture.depth(fixture.watchQueue)
        } until: {
            $0 >= count
        }
        return try fixture.drain(fixture.watchQueue)
    }
}
