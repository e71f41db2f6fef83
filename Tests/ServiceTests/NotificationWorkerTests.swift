import CommerceMessages
import CommerceTestKit
import Foundation
import Mongo
import Testing

/// The notification worker as a process: each event it is bound to becomes one document in
/// `notifications` (`_id` = the event's message id), and a redelivered event adds none
/// (docs/saga.md, notification-worker; docs/architecture.md, "MongoDB store").
@Suite("notification-worker")
struct NotificationWorkerTests {
    static let mongoURI = TestServers.mongoURL
    static let customer = Customer(id: "c-1001", email: "kim@example.com")
    static let amounts = PriceBreakdown(
        subtotal: 1_231_567, couponDiscount: 0, membershipDiscount: 0, shippingFee: 3_000, total: 1_234_567)

    static func confirmed(_ orderID: String) -> OrderConfirmed {
        OrderConfirmed(
            orderID: orderID, customer: customer, currency: .krw,
            lines: [OrderLine(sku: "KB-001", name: "Keyboard", quantity: 1, unitPrice: 1_231_567)],
            shippingAddress: ShippingAddress(street: "1 Sejong-daero", city: "Seoul", postalCode: "04524"),
            amounts: amounts, paymentID: "p-\(orderID)")
    }

    /// A worker on the fixture's exchange writing to the fixture's MongoDB database, and a client
    /// on that database. When `body` returns or throws, the worker is stopped (it must exit
    /// cleanly) and then the database is dropped, so that no reconnect recreates it.
    static func withWorker(_ body: (ServiceFixture, WorkerProcess, MongoCollection) throws -> Void) throws {
        let fixture = try ServiceFixture()
        let client = try MongoClient(uri: mongoURI, appName: "notification-worker-tests")
        var started: WorkerProcess?
        defer {
            if let started {
                started.terminate()
                #expect(started.waitForExit(timeout: .seconds(30)) == 0, "graceful stop; log: \(started.logURL.path)")
            }
            do {
                try client.dropDatabase(fixture.mongoDatabase)
            } catch {
                Issue.record("could not drop test database \(fixture.mongoDatabase): \(error)")
            }
        }
        let worker = try fixture.startWorker(
            "notification-worker", ["DATABASE_URL": mongoURI, "DATABASE_NAME": fixture.mongoDatabase])
        started = worker
        try body(fixture, worker, client.collection("notifications", in: fixture.mongoDatabase))
    }

    @Test("order.confirmed, order.cancelled, order.rejected and payment.refunded: one document each, every field")
    func eachEventType() throws {
        try Self.withWorker { fixture, _, collection in
            let suffix = fixture.suffix
            let confirmedID = try fixture.publish(Self.confirmed("o-c-\(suffix)"))
            let cancelledID = try fixture.publish(
                OrderCancelled(
                    orderID: "o-x-\(suffix)", customer: Self.customer, currency: .krw, amounts: Self.amounts,
                    reason: .outOfStock, message: "KB-001: 1 requested, 0 available", previousStatus: .pending))
            let rejectedID = try fixture.publish(
                OrderRejected(
                    orderID: "o-r-\(suffix)", customer: Self.customer, currency: .krw,
                    message: "the order has no items",
                    violations: [Violation(code: "empty_order", field: "items", message: "the order has no items")]))
            let refundedID = try fixture.publish(
                PaymentRefunded(
                    orderID: "o-x-\(suffix)", paymentID: "p-x-\(suffix)", currency: .krw, amount: 0,
                    reason: .customerRequest))

            try waitUntil("4 notifications", timeout: .seconds(30), { try collection.countDocuments() }) { $0 >= 4 }
            #expect(try collection.countDocuments() == 4)

            let confirmed = try #require(try collection.findOne(["_id": .string(confirmedID)]))
            #expect(confirmed["order_id"] == .string("o-c-\(suffix)"))
            #expect(confirmed["event_type"] == "order.confirmed")
            #expect(confirmed["channel"] == "email")
            #expect(confirmed["recipient"] == "kim@example.com")
            #expect(confirmed["subject"] == .string("Your order o-c-\(suffix) is confirmed"))
            #expect(confirmed["body"]?.stringValue?.contains("₩1,234,567") == true)
            #expect(confirmed["amount"]?.intValue == 1_234_567)
            #expect(confirmed["currency"] == "KRW")
            #expect(confirmed["reason"] == nil)
            #expect(confirmed["event_message_id"] == .string(confirmedID))
            let createdAt = try #require(confirmed["created_at"]?.dateValue)
            #expect(abs(createdAt.timeIntervalSinceNow) < 300)

            let cancelled = try #require(try collection.findOne(["_id": .string(cancelledID)]))
            #expect(cancelled["event_type"] == "order.cancelled")
            #expect(cancelled["recipient"] == "kim@example.com")
            #expect(cancelled["reason"] == "out_of_stock")
            #expect(cancelled["body"]?.stringValue?.contains("some items are out of stock") == true)
            #expect(cancelled["body"]?.stringValue?.contains("KB-001: 1 requested, 0 available") == true)
            #expect(cancelled["event_message_id"] == .string(cancelledID))

            let rejected = try #require(try collection.findOne(["_id": .string(rejectedID)]))
            #expect(rejected["event_type"] == "order.rejected")
            #expect(rejected["reason"] == "invalid_order")
            #expect(rejected["amount"] == .null)
            #expect(rejected["body"]?.stringValue?.contains("the order is not valid") == true)

            let refunded = try #require(try collection.findOne(["_id": .string(refundedID)]))
            #expect(refunded["order_id"] == .string("o-x-\(suffix)"))
            #expect(refunded["event_type"] == "payment.refunded")
            #expect(refunded["channel"] == "none")
            #expect(refunded["recipient"] == .null)
            #expect(refunded["amount"]?.intValue == 0)
            #expect(refunded["body"]?.stringValue?.contains("₩0") == true)
            #expect(refunded["reason"] == "customer_request")

            // Two events of one order (its cancellation and its refund) are two notifications.
            #expect(try collection.countDocuments(["order_id": .string("o-x-\(suffix)")]) == 2)
            #expect(try fixture.deadLetters(of: "notification-worker").isEmpty)
        }
    }

    @Test("the same event published twice with one message id is stored once and acknowledged")
    func redelivery() throws {
        try Self.withWorker { fixture, worker, collection in
            let orderID = "o-d-\(fixture.suffix)"
            let messageID = try fixture.publish(Self.confirmed(orderID))
            try fixture.publish(Self.confirmed(orderID), messageID: messageID)

            // The second copy is done when the runtime has counted it as a duplicate.
            try waitUntil(
                "the second copy acknowledged as a duplicate", timeout: .seconds(30),
                {
                    metricValue(worker.http("/metrics")?.1 ?? "", "commerce_messages_duplicate_total") ?? 0
                }
            ) { $0 >= 1 }
            try waitUntil("the queue to drain", { try fixture.depth("notification-worker-\(fixture.suffix)") }) {
                $0 == 0
            }
            #expect(try collection.countDocuments(["order_id": .string(orderID)]) == 1)
            #expect(try collection.findOne(["order_id": .string(orderID)])?["_id"] == .string(messageID))
            #expect(try fixture.deadLetters(of: "notification-worker").isEmpty)
        }
    }

    @Test("the same event replayed under a new message id is stored once: one notification per order and event type")
    func replayUnderNewMessageID() throws {
        try Self.withWorker { fixture, worker, collection in
            let orderID = "o-r2-\(fixture.suffix)"
            let first = try fixture.publish(Self.confirmed(orderID))
            try waitUntil("the first notification", { try collection.countDocuments(["order_id": .string(orderID)]) }) {
                $0 == 1
            }
            try fixture.publish(Self.confirmed(orderID))
            try waitUntil(
                "the replay acknowledged as a duplicate", timeout: .seconds(30),
                { metricValue(worker.http("/metrics")?.1 ?? "", "commerce_messages_duplicate_total") ?? 0 }
            ) { $0 >= 1 }
            #expect(try collection.countDocuments(["order_id": .string(orderID)]) == 1)
            #expect(try collection.findOne(["order_id": .string(orderID)])?["_id"] == .string(first))
            #expect(try fixture.deadLetters(of: "notification-worker").isEmpty)
        }
    }

    @Test("the worker indexes order_id at start-up")
    func index() throws {
        try Self.withWorker { fixture, _, collection in
            // The collection exists once the first document is written; list its indexes then.
            try fixture.publish(Self.confirmed("o-i-\(fixture.suffix)"))
            try waitUntil("1 notification", { try collection.countDocuments() }) { $0 >= 1 }
            let client = try MongoClient(uri: Self.mongoURI, appName: "notification-worker-tests")
            let reply = try client.runCommand(["listIndexes": "notifications"], database: fixture.mongoDatabase)
            let indexes = reply["cursor"]?.documentValue?["firstBatch"]?.arrayValue ?? []
            let names = indexes.compactMap { $0.documentValue?["name"]?.stringValue }
            #expect(names.contains("order_id_1"), "indexes: \(names)")
            #expect(names.contains("order_id_1_event_type_1"), "indexes: \(names)")
        }
    }
}
