import CommerceDomain
import CommerceMessages
import CommerceTestKit
import Foundation
import Inventory
import Postgres
import Testing

/// The stock worker against real servers and real `stock-worker` processes: the rules of
/// docs/saga.md for reserving, selling, releasing and restocking, in any order of events, and
/// the conservation of stock (invariant 4) under competing copies.
@Suite("Stock worker")
struct StockWorkerTests {
    private static let customer = Customer(id: "c-1001", email: "kim@example.com", membership: "gold")
    private static let address = ShippingAddress(street: "Teheran-ro 123", city: "Seoul", postalCode: "06234")
    private static let amounts = PriceBreakdown(
        subtotal: 90_000, couponDiscount: 0, membershipDiscount: 0, shippingFee: 0, total: 90_000)

    /// A fixture watching the stock worker's events.
    private func fixture() throws -> ServiceFixture {
        try ServiceFixture(watching: [.stockReserved, .stockRejected, .stockReleased])
    }

    /// Writes a stock seed file of `stock` (SKU → units) and returns its path.
    private func seedFile(_ stock: [String: Int]) throws -> String {
        let entries = stock.sorted { $0.key < $1.key }.map { #"{"sku": "\#($0.key)", "quantity": \#($0.value)}"# }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("stock-\(UUID().uuidString).json")
        try Data(#"{"stock": [\#(entries.joined(separator: ", "))]}"#.utf8).write(to: url)
        return url.path
    }

    /// Starts a stock worker seeded with `stock`.
    @discardableResult
    private func startStockWorker(_ fixture: ServiceFixture, stock: [String: Int]) throws -> WorkerProcess {
        try fixture.startWorker("stock-worker", ["STOCK_SEED_FILE": try seedFile(stock)])
    }

    private func placed(_ orderID: String, _ lines: [(String, Int)]) -> OrderPlaced {
        OrderPlaced(
            orderID: orderID, customer: Self.customer, currency: .krw,
            lines: lines.map { OrderLine(sku: $0.0, name: "Product \($0.0)", quantity: $0.1, unitPrice: 45_000) },
            shippingAddress: Self.address, paymentToken: "tok_approve", amounts: Self.amounts)
    }

    private func cancelled(_ orderID: String, previous: OrderStatus) -> OrderCancelled {
        OrderCancelled(
            orderID: orderID, customer: Self.customer, currency: .krw, amounts: Self.amounts, reason: .customerRequest,
            message: "changed my mind", previousStatus: previous)
    }

    private func confirmed(_ orderID: String, _ lines: [(String, Int)]) -> OrderConfirmed {
        OrderConfirmed(
            orderID: orderID, customer: Self.customer, currency: .krw,
            lines: lines.map { OrderLine(sku: $0.0, name: "Product \($0.0)", quantity: $0.1, unitPrice: 45_000) },
            shippingAddress: Self.address, amounts: Self.amounts, paymentID: "pay-\(orderID)")
    }

    private func paymentFailed(_ orderID: String) -> PaymentFailed {
        PaymentFailed(
            orderID: orderID, currency: .krw, amount: Self.amounts.total, declineCode: "insufficient_funds",
            message: "insufficient funds")
    }

    private func newOrderID() -> String { UUID().uuidString.lowercased() }

    /// Each SKU's counters: available, reserved, sold.
    private func stock(_ database: PostgresConnection) throws -> [String: [Int]] {
        var stock: [String: [Int]] = [:]
        for row in try database.query("select sku, available, reserved, sold from stock").rows {
            stock[try row.string("sku")] = [
                Int(try row.int("available")), Int(try row.int("reserved")), Int(try row.int("sold")),
            ]
        }
        return stock
    }

    /// The order's reservation status, or `nil`.
    private func reservation(_ database: PostgresConnection, _ orderID: String) throws -> String? {
        try database.query("select status from reservations where order_id = $1", [.text(orderID)]).rows.first?
            .string("status")
    }

    /// The order's ledger rows as `kind sku quantity`, in the order they were written.
    private func movements(_ database: PostgresConnection, _ orderID: String) throws -> [String] {
        try database.query(
            "select kind, sku, quantity from stock_movements where order_id = $1 order by id", [.text(orderID)]
        ).rows.map { "\(try $0.string("kind")) \(try $0.string("sku")) \(try $0.int("quantity"))" }
    }

    /// Waits until the worker recorded `messageID` in its inbox: handled and committed, even when
    /// it emitted nothing.
    private func waitForHandled(_ database: PostgresConnection, _ messageID: String) throws {
        try waitUntil(
            "message \(messageID) handled",
            {
                try database.query("select count(*) as n from runtime_inbox where message_id = $1", [.text(messageID)])
                    .rows.first?.int("n") ?? 0
            }
        ) { $0 == 1 }
    }

    /// Invariant 4 (`InventoryAudit`): SKUs whose counters are negative, or differ from what
    /// their movements and reservations add up to.
    private func ledgerViolations(_ database: PostgresConnection) throws -> [String] {
        try InventoryAudit.run(on: database).map(\.sku)
    }

    /// Messages a worker handled, from its `/metrics` (`commerce_messages_handled_total`, every type).
    private func handledCount(_ worker: WorkerProcess) -> Int {
        let metrics = worker.http("/metrics")?.1 ?? ""
        return metrics.split(separator: "\n").filter { $0.hasPrefix("commerce_messages_handled_total") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }.reduce(0) { $0 + Int($1) }
    }

    @Test("the seed stocks its SKUs once, with an adjust movement each")
    func seeding() throws {
        let fixture = try fixture()
        let worker = try startStockWorker(fixture, stock: ["KB-001": 10, "MS-001": 5])
        let database = try fixture.connectDatabase()
        #expect(try stock(database) == ["KB-001": [10, 0, 0], "MS-001": [5, 0, 0]])
        // A second copy applies the same seed again: nothing changes.
        try startStockWorker(fixture, stock: ["KB-001": 99, "MN-001": 3])
        #expect(try stock(database) == ["KB-001": [10, 0, 0], "MS-001": [5, 0, 0], "MN-001": [3, 0, 0]])
        let adjustments = try database.query("select count(*) as n from stock_movements where kind = 'adjust'")
        #expect(try adjustments.rows[0].int("n") == 3)
        #expect(try ledgerViolations(database).isEmpty)
        #expect(worker.log.contains("stock seeded"))
    }

    @Test("an order whose every line is available is reserved: counters, ledger and stock.reserved")
    func reservesEveryLine() throws {
        let fixture = try fixture()
        try startStockWorker(fixture, stock: ["KB-001": 10, "MS-001": 5])
        let orderID = newOrderID()
        try fixture.publish(placed(orderID, [("KB-001", 2), ("MS-001", 1)]))
        let events = try fixture.events(1)
        guard case .stockReserved(let reserved) = try #require(events.first) else {
            Issue.record("expected stock.reserved, got \(events)")
            return
        }
        #expect(reserved.orderID == orderID)
        #expect(reserved.amount == Self.amounts.total && reserved.paymentToken == "tok_approve")
        #expect(Set(reserved.lines) == [StockLine(sku: "KB-001", quantity: 2), StockLine(sku: "MS-001", quantity: 1)])
        let database = try fixture.connectDatabase()
        #expect(try stock(database) == ["KB-001": [8, 2, 0], "MS-001": [4, 1, 0]])
        #expect(try reservation(database, orderID) == "reserved")
        #expect(try movements(database, orderID).sorted() == ["reserve KB-001 2", "reserve MS-001 1"])
        #expect(try ledgerViolations(database).isEmpty)
    }

    @Test("one line short reserves nothing: stock.rejected with the shortages, an unknown SKU at 0")
    func allOrNothing() throws {
        let fixture = try fixture()
        try startStockWorker(fixture, stock: ["KB-001": 10, "MS-001": 1])
        let orderID = newOrderID()
        try fixture.publish(placed(orderID, [("KB-001", 2), ("MS-001", 3), ("ZZ-404", 1)]))
        let events = try fixture.events(1)
        guard case .stockRejected(let rejected) = try #require(events.first) else {
            Issue.record("expected stock.rejected, got \(events)")
            return
        }
        #expect(rejected.reason == .outOfStock)
        #expect(
            rejected.shortages == [
                StockShortage(sku: "MS-001", requested: 3, available: 1),
                StockShortage(sku: "ZZ-404", requested: 1, available: 0),
            ])
        let database = try fixture.connectDatabase()
        #expect(try stock(database) == ["KB-001": [10, 0, 0], "MS-001": [1, 0, 0]])
        #expect(try reservation(database, orderID) == "rejected")
        #expect(try movements(database, orderID).isEmpty)
    }

    @Test("payment.failed releases the reservation once: stock.released with payment_declined")
    func releaseOnPaymentFailure() throws {
        let fixture = try fixture()
        try startStockWorker(fixture, stock: ["KB-001": 10])
        let orderID = newOrderID()
        try fixture.publish(placed(orderID, [("KB-001", 3)]))
        _ = try fixture.events(1)
        try fixture.publish(paymentFailed(orderID))
        let events = try fixture.events(1)
        guard case .stockReleased(let released) = try #require(events.first) else {
            Issue.record("expected stock.released, got \(events)")
            return
        }
        #expect(released.reason == .paymentDeclined)
        #expect(released.lines == [StockLine(sku: "KB-001", quantity: 3)])
        let database = try fixture.connectDatabase()
        #expect(try stock(database) == ["KB-001": [10, 0, 0]])
        #expect(try reservation(database, orderID) == "released")
        // A second failure and a cancel (new message ids) release nothing more.
        let again = try fixture.publish(paymentFailed(orderID))
        let cancel = try fixture.publish(cancelled(orderID, previous: .pending))
        try waitForHandled(database, again)
        try waitForHandled(database, cancel)
        #expect(try fixture.depth(fixture.watchQueue) == 0)
        #expect(try stock(database) == ["KB-001": [10, 0, 0]])
        #expect(try movements(database, orderID) == ["reserve KB-001 3", "release KB-001 3"])
    }

    @Test("order.confirmed sells the reserved units; a cancel afterwards restocks them once")
    func sellThenRestock() throws {
        let fixture = try fixture()
        try startStockWorker(fixture, stock: ["KB-001": 10, "MN-001": 4])
        let orderID = newOrderID()
        let lines = [("KB-001", 2), ("MN-001", 1)]
        try fixture.publish(placed(orderID, lines))
        _ = try fixture.events(1)
        let database = try fixture.connectDatabase()
        let confirm = try fixture.publish(confirmed(orderID, lines))
        try waitForHandled(database, confirm)
        #expect(try stock(database) == ["KB-001": [8, 0, 2], "MN-001": [3, 0, 1]])
        #expect(try reservation(database, orderID) == "sold")
        try fixture.publish(cancelled(orderID, previous: .confirmed))
        let events = try fixture.events(1)
        guard case .stockReleased(let released) = try #require(events.first) else {
            Issue.record("expected stock.released, got \(events)")
            return
        }
        #expect(released.reason == .customerRequest)
        #expect(Set(released.lines) == [StockLine(sku: "KB-001", quantity: 2), StockLine(sku: "MN-001", quantity: 1)])
        #expect(try stock(database) == ["KB-001": [10, 0, 0], "MN-001": [4, 0, 0]])
        #expect(try reservation(database, orderID) == "released")
        let second = try fixture.publish(cancelled(orderID, previous: .confirmed))
        try waitForHandled(database, second)
        #expect(try fixture.depth(fixture.watchQueue) == 0)
        #expect(try stock(database) == ["KB-001": [10, 0, 0], "MN-001": [4, 0, 0]])
        #expect(try movements(database, orderID).filter { $0.hasPrefix("restock") }.count == 2)
        #expect(try ledgerViolations(database).isEmpty)
    }

    @Test("order.cancelled of a reserved order releases it with the cancel's reason; a late confirm sells nothing")
    func releaseOnCancel() throws {
        let fixture = try fixture()
        try startStockWorker(fixture, stock: ["KB-001": 10])
        let orderID = newOrderID()
        try fixture.publish(placed(orderID, [("KB-001", 2)]))
        _ = try fixture.events(1)
        var cancel = cancelled(orderID, previous: .pending)
        cancel.reason = .timeout
        try fixture.publish(cancel)
        let events = try fixture.events(1)
        guard case .stockReleased(let released) = try #require(events.first) else {
            Issue.record("expected stock.released, got \(events)")
            return
        }
        #expect(released.reason == .timeout)
        let database = try fixture.connectDatabase()
        try waitForHandled(database, try fixture.publish(confirmed(orderID, [("KB-001", 2)])))
        #expect(try stock(database) == ["KB-001": [10, 0, 0]])
        #expect(try reservation(database, orderID) == "released")
        #expect(try movements(database, orderID) == ["reserve KB-001 2", "release KB-001 2"])
    }

    @Test("order.cancelled before order.placed leaves a tombstone: the late order reserves nothing")
    func tombstone() throws {
        let fixture = try fixture()
        try startStockWorker(fixture, stock: ["KB-001": 10])
        let database = try fixture.connectDatabase()
        let orderID = newOrderID()
        let cancel = try fixture.publish(cancelled(orderID, previous: .pending))
        try waitForHandled(database, cancel)
        #expect(try reservation(database, orderID) == "cancelled")
        let late = try fixture.publish(placed(orderID, [("KB-001", 2)]))
        try waitForHandled(database, late)
        #expect(try fixture.depth(fixture.watchQueue) == 0)
        #expect(try stock(database) == ["KB-001": [10, 0, 0]])
        #expect(try reservation(database, orderID) == "cancelled")
        #expect(try movements(database, orderID).isEmpty)
    }

    @Test("payment.failed without a reservation also leaves a tombstone")
    func tombstoneOnPaymentFailure() throws {
        let fixture = try fixture()
        try startStockWorker(fixture, stock: ["KB-001": 10])
        let database = try fixture.connectDatabase()
        let orderID = newOrderID()
        try waitForHandled(database, try fixture.publish(paymentFailed(orderID)))
        try waitForHandled(database, try fixture.publish(placed(orderID, [("KB-001", 1)])))
        #expect(try reservation(database, orderID) == "cancelled")
        #expect(try stock(database) == ["KB-001": [10, 0, 0]])
        #expect(try fixture.depth(fixture.watchQueue) == 0)
    }

    @Test("order.placed twice with new message ids reserves once")
    func duplicatePlaced() throws {
        let fixture = try fixture()
        try startStockWorker(fixture, stock: ["KB-001": 10])
        let orderID = newOrderID()
        try fixture.publish(placed(orderID, [("KB-001", 4)]))
        _ = try fixture.events(1)
        let database = try fixture.connectDatabase()
        try waitForHandled(database, try fixture.publish(placed(orderID, [("KB-001", 4)])))
        #expect(try fixture.depth(fixture.watchQueue) == 0)
        #expect(try stock(database) == ["KB-001": [6, 4, 0]])
        #expect(try movements(database, orderID) == ["reserve KB-001 4"])
    }

    @Test("a message type outside the stock worker's contract is dead-lettered as unexpected_type")
    func unexpectedType() throws {
        let fixture = try fixture()
        try startStockWorker(fixture, stock: ["KB-001": 10])
        // Bind the stock worker's queue to a type it does not handle, as a misconfiguration would.
        let queue = "stock-worker-\(fixture.suffix)"
        try fixture.amqp.bindQueue(
            channel: fixture.channel, queue: queue, exchange: fixture.exchange, routingKey: "payment.succeeded")
        let orderID = newOrderID()
        try fixture.publish(PaymentSucceeded(orderID: orderID, paymentID: "pay-1", currency: .krw, amount: 1))
        let letters = try waitUntil("the dead letter", { try fixture.depth("\(queue).dlq") }) { $0 == 1 }
        #expect(letters == 1)
        let letter = try #require(try fixture.deadLetters(of: "stock-worker").first)
        #expect(letter.properties.headers["x-error-reason"]?.stringValue == "unexpected_type")
    }

    @Test("each reservation, sale, release and restock costs one database round trip in its batch")
    func oneRoundTripPerMessage() throws {
        let fixture = try fixture()
        let worker = try startStockWorker(fixture, stock: ["KB-001": 100, "MS-001": 100])
        let orderIDs = (0..<10).map { _ in newOrderID() }
        let lines = [("MS-001", 1), ("KB-001", 2)]
        for orderID in orderIDs { try fixture.publish(placed(orderID, lines)) }
        #expect(try fixture.events(10).count == 10)
        for orderID in orderIDs[0..<5] { try fixture.publish(confirmed(orderID, lines)) }
        for orderID in orderIDs[5..<8] { try fixture.publish(paymentFailed(orderID)) }
        for orderID in orderIDs[8...] { try fixture.publish(cancelled(orderID, previous: .pending)) }
        try fixture.publish(cancelled(orderIDs[0], previous: .confirmed))
        #expect(try fixture.events(6).count == 6)
        // Every message handled and every batch finished: the round-trip histogram has one
        // sample per batch, recorded once its outbox rows are deleted.
        let total = 10 + 5 + 3 + 2 + 1
        let metrics = try waitUntil("every batch of \(total) messages finished", { worker.http("/metrics")?.1 ?? "" }) {
            handledCount(worker) == total
                && metricValue($0, "commerce_batch_database_round_trips_count")
                    == metricValue($0, "commerce_batch_size_count")
        }
        let batches = try #require(metricValue(metrics, "commerce_batch_database_round_trips_count"))
        let roundTrips = try #require(metricValue(metrics, "commerce_batch_database_round_trips_sum"))
        // The runtime's three per batch (begin and inbox; outbox and commit; the published rows'
        // deletion), one per message (the statement that claims or locks its reservation and SKU
        // rows) and the one-time preparation of each of those two statement texts on the
        // connection (`PQprepare`). With a statement per lock (up to three a message) it took 73
        // round trips in 7 batches.
        #expect(
            roundTrips <= Double(total) + 3 * batches + 2, "\(roundTrips) round trips in \(batches) batches")
        let database = try fixture.connectDatabase()
        #expect(try stock(database) == ["KB-001": [92, 0, 8], "MS-001": [96, 0, 4]])
        #expect(try ledgerViolations(database).isEmpty)
    }

    @Test("two copies, 200 one-unit orders, 50 units: exactly 50 reserved, 150 rejected, stock conserved")
    func competingCopies() throws {
        let fixture = try fixture()
        // Small batches and prefetch, so that both copies take part and contend for the SKU row.
        let small = ["CONSUMER_BATCH_SIZE": "4", "CONSUMER_PREFETCH": "8"]
        let seed = try seedFile(["KB-001": 50])
        let copies = try (0..<2).map { _ in
            try fixture.startWorker("stock-worker", small.merging(["STOCK_SEED_FILE": seed]) { $1 })
        }
        let orderIDs = (0..<200).map { _ in newOrderID() }
        for orderID in orderIDs { try fixture.publish(placed(orderID, [("KB-001", 1)])) }
        let events = try fixture.events(200, timeout: .seconds(90))
        let reserved = events.filter { if case .stockReserved = $0 { true } else { false } }
        let rejected = events.filter { if case .stockRejected = $0 { true } else { false } }
        #expect(events.count == 200)
        #expect(reserved.count == 50)
        #expect(rejected.count == 150)
        #expect(Set(events.map(\.orderID)) == Set(orderIDs))
        let database = try fixture.connectDatabase()
        #expect(try stock(database) == ["KB-001": [0, 50, 0]])
        let statuses = try database.query("select status, count(*) as n from reservations group by status order by 1")
            .rows.map { "\(try $0.string("status")) \(try $0.int("n"))" }
        #expect(statuses == ["rejected 150", "reserved 50"])
        #expect(try ledgerViolations(database).isEmpty)
        #expect(try fixture.deadLetters(of: "stock-worker").isEmpty)
        let handled = copies.map(handledCount)
        #expect(handled.reduce(0, +) == 200)
        #expect(handled.allSatisfy { $0 > 0 }, "both copies took orders: \(handled)")
    }
}
