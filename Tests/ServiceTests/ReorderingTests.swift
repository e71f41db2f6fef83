import CommerceDomain
import CommerceMessages
import CommerceTestKit
import Foundation
import Inventory
import Payments
import Postgres
import Testing

/// docs/saga.md, "Each worker's rules for any order of events", against real worker processes:
/// for one order, a worker receives the saga's events late, twice and out of order (every
/// permutation the broker can produce, each with one event delivered again under a new message
/// id), and the order still ends in the one correct state, with the invariants holding.
///
/// Each test starts one worker and runs all its permutations at once, each on an order of its
/// own: every permutation's messages are published back to back, then the test waits once until
/// the worker has handled every message (its inbox) and relayed every event it emitted (its
/// outbox is empty), and reads what it emitted and stored, per order.
@Suite("Saga events in any order")
struct ReorderingTests {
    private static let customer = Customer(id: "c-1001", email: "kim@example.com", membership: "gold")
    private static let address = ShippingAddress(street: "Teheran-ro 123", city: "Seoul", postalCode: "06234")
    private static let amounts = PriceBreakdown(
        subtotal: 90_000, couponDiscount: 0, membershipDiscount: 0, shippingFee: 0, total: 90_000)
    /// Two lines of every order sent to the stock worker: each order holds 2 + 1 units while reserved.
    private static let lines = [
        OrderLine(sku: "KB-001", name: "Keyboard", quantity: 2, unitPrice: 30_000),
        OrderLine(sku: "MS-001", name: "Mouse", quantity: 1, unitPrice: 30_000),
    ]
    /// Enough for every order of the stock test to hold its lines at once.
    private static let seed = ["KB-001": 40, "MS-001": 20]

    // MARK: Permutations

    /// Every permutation of `0..<count`, in lexicographic order.
    private static func permutations(_ count: Int) -> [[Int]] {
        guard count > 0 else { return [[]] }
        return (0..<count).flatMap { first in
            permutations(count - 1).map { rest in [first] + rest.map { $0 >= first ? $0 + 1 : $0 } }
        }
    }

    /// `permutation` with one of its events delivered twice: the `index`-th permutation of a test
    /// repeats its event at position `index % count`, right after the original when `index` is
    /// even, as the last message when it is odd.
    private static func withDuplicate(_ permutation: [Int], _ index: Int) -> [Int] {
        let position = index % permutation.count
        var sequence = permutation
        if index.isMultiple(of: 2) {
            sequence.insert(permutation[position], at: position + 1)
        } else {
            sequence.append(permutation[position])
        }
        return sequence
    }

    /// A sequence of event indices as a readable permutation, e.g. `placed → cancelled → placed`.
    private static func label(_ sequence: [Int], _ names: [String]) -> String {
        sequence.map { names[$0] }.joined(separator: " → ")
    }

    /// Whether event `a` is delivered (for the first time) before event `b` in `sequence`.
    private static func first(_ a: Int, before b: Int, in sequence: [Int]) -> Bool {
        (sequence.firstIndex(of: a) ?? .max) < (sequence.firstIndex(of: b) ?? .max)
    }

    // MARK: Waiting and reading

    private func newOrderID() -> String { UUID().uuidString.lowercased() }

    /// Publishes `messages` back to back, each under a new message id; returns the ids.
    private func publish(_ messages: [any ContractMessage], _ fixture: ServiceFixture) throws -> [String] {
        try messages.map { try fixture.publish($0) }
    }

    /// Waits until the worker has handled every message of `messageIDs` (each is in its inbox,
    /// committed with its effects, even if it emitted nothing), then until its outbox is empty
    /// (every event it emitted is on the broker, so on the watch queue).
    private func waitForWorker(_ database: PostgresConnection, handled messageIDs: [String]) throws {
        try waitUntil(
            "\(messageIDs.count) messages handled", timeout: .seconds(45),
            {
                try database.query(
                    "select count(*) as n from runtime_inbox where message_id = any($1::text[])",
                    [.textArray(messageIDs)]
                ).rows[0].int("n")
            }
        ) { $0 == Int64(messageIDs.count) }
        try waitUntil(
            "the outbox relayed", timeout: .seconds(15),
            { try database.query("select count(*) as n from runtime_outbox").rows[0].int("n") }
        ) { $0 == 0 }
    }

    /// Takes the `count` events the worker is expected to have emitted (and any beyond them),
    /// grouped by order.
    private func emitted(_ count: Int, _ fixture: ServiceFixture) throws -> [String: [AnyMessage]] {
        let events =
            count == 0 ? try fixture.events(0, timeout: .seconds(1)) : try fixture.events(count, timeout: .seconds(5))
        #expect(events.count == count, "\(count) events emitted in all, got \(events.count)")
        return Dictionary(grouping: events, by: \.orderID)
    }

    /// An emitted event with what matters of it: its type, and a compensation's reason.
    private static func describe(_ event: AnyMessage) -> String {
        switch event {
        case .stockReleased(let released): "stock.released \(released.reason.rawValue)"
        case .orderCancelled(let cancelled):
            "order.cancelled \(cancelled.reason.rawValue) from \(cancelled.previousStatus.rawValue)"
        default: event.messageType.rawValue
        }
    }

    // MARK: stock-worker

    private func seedFile(_ stock: [String: Int]) throws -> String {
        let entries = stock.sorted { $0.key < $1.key }.map { #"{"sku": "\#($0.key)", "quantity": \#($0.value)}"# }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("stock-\(UUID().uuidString).json")
        try Data(#"{"stock": [\#(entries.joined(separator: ", "))]}"#.utf8).write(to: url)
        return url.path
    }

    private func placed(_ orderID: String, token: String = "tok_approve") -> OrderPlaced {
        OrderPlaced(
            orderID: orderID, customer: Self.customer, currency: .krw, lines: Self.lines,
            shippingAddress: Self.address, paymentToken: token, amounts: Self.amounts)
    }

    private func cancelled(_ orderID: String, previous: OrderStatus) -> OrderCancelled {
        OrderCancelled(
            orderID: orderID, customer: Self.customer, currency: .krw, amounts: Self.amounts, reason: .customerRequest,
            message: "changed my mind", previousStatus: previous)
    }

    private func confirmed(_ orderID: String) -> OrderConfirmed {
        OrderConfirmed(
            orderID: orderID, customer: Self.customer, currency: .krw, lines: Self.lines,
            shippingAddress: Self.address, amounts: Self.amounts, paymentID: "pay-\(orderID)")
    }

    private func paymentFailed(_ orderID: String) -> PaymentFailed {
        PaymentFailed(
            orderID: orderID, currency: .krw, amount: Self.amounts.total, declineCode: "insufficient_funds",
            message: "insufficient funds")
    }

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

    /// The order's ledger rows as `kind sku quantity`, in the order they were written.
    private func movements(_ database: PostgresConnection, _ orderID: String) throws -> [String] {
        try database.query(
            "select kind, sku, quantity from stock_movements where order_id = $1 order by id", [.text(orderID)]
        ).rows.map { "\(try $0.string("kind")) \(try $0.string("sku")) \(try $0.int("quantity"))" }
    }

    private func reservation(_ database: PostgresConnection, _ orderID: String) throws -> String? {
        try database.query("select status from reservations where order_id = $1", [.text(orderID)]).rows.first?
            .string("status")
    }

    /// Invariant 4 (`InventoryAudit`): SKUs whose counters are negative, or differ from what
    /// their movements and reservations add up to.
    private func ledgerViolations(_ database: PostgresConnection) throws -> [String] {
        try InventoryAudit.run(on: database).map(\.sku)
    }

    /// One order's run through the stock worker: the order, the sequence of events it received,
    /// and what the worker must have done for it.
    private struct StockCase {
        var orderID: String
        var label: String
        var events: [String]
        var movements: [String]
        var reservation: String
    }

    @Test(
        "stock-worker: placed, cancelled and payment.failed (and placed, confirmed, cancelled) in every order, one twice: nothing held"
    )
    func stockWorker() throws {
        let fixture = try ServiceFixture(watching: [.stockReserved, .stockRejected, .stockReleased])
        try fixture.startWorker("stock-worker", ["STOCK_SEED_FILE": try seedFile(Self.seed)])
        let database = try fixture.connectDatabase()
        defer { database.close() }
        let reserve = ["reserve KB-001 2", "reserve MS-001 1"]
        let release = ["release KB-001 2", "release MS-001 1"]
        var cases: [StockCase] = []
        var messageIDs: [String] = []

        // A cancel before confirmation and a declined payment, in all 6 orders: the order is
        // reserved only if order.placed comes first, and then released once, by the first of
        // the two compensations; otherwise its tombstone keeps the late order.placed from
        // reserving anything.
        let pendingNames = ["placed", "cancelled(PENDING)", "payment.failed"]
        for (index, permutation) in Self.permutations(3).enumerated() {
            let orderID = newOrderID()
            let sequence = Self.withDuplicate(permutation, index)
            let messages: [any ContractMessage] = [
                placed(orderID), cancelled(orderID, previous: .pending), paymentFailed(orderID),
            ]
            messageIDs += try publish(sequence.map { messages[$0] }, fixture)
            let placedFirst = sequence.first == 0
            let releaseReason = Self.first(1, before: 2, in: sequence) ? "customer_request" : "payment_declined"
            cases.append(
                StockCase(
                    orderID: orderID, label: Self.label(sequence, pendingNames),
                    events: placedFirst ? ["stock.reserved", "stock.released \(releaseReason)"] : [],
                    movements: placedFirst ? reserve + release : [],
                    reservation: placedFirst ? "released" : "cancelled"))
        }

        // A cancel after confirmation, in the causal order and with the cancel overtaking the
        // confirmation (order.confirmed cannot overtake order.placed: the stock worker's own
        // stock.reserved precedes it). Sold units are restocked, reserved ones released, once.
        let confirmedNames = ["placed", "confirmed", "cancelled(CONFIRMED)"]
        for (index, permutation) in [[0, 1, 2], [0, 2, 1], [2, 0, 1], [2, 1, 0]].enumerated() {
            let orderID = newOrderID()
            let sequence = Self.withDuplicate(permutation, index)
            let messages: [any ContractMessage] = [
                placed(orderID), confirmed(orderID), cancelled(orderID, previous: .confirmed),
            ]
            messageIDs += try publish(sequence.map { messages[$0] }, fixture)
            let expected: StockCase
            if Self.first(0, before: 2, in: sequence) && Self.first(1, before: 2, in: sequence) {
                expected = StockCase(
                    orderID: orderID, label: Self.label(sequence, confirmedNames),
                    events: ["stock.reserved", "stock.released customer_request"],
                    movements: reserve + ["sell KB-001 2", "sell MS-001 1", "restock KB-001 2", "restock MS-001 1"],
                    reservation: "released")
            } else if Self.first(0, before: 2, in: sequence) {
                expected = StockCase(
                    orderID: orderID, label: Self.label(sequence, confirmedNames),
                    events: ["stock.reserved", "stock.released customer_request"], movements: reserve + release,
                    reservation: "released")
            } else {
                expected = StockCase(
                    orderID: orderID, label: Self.label(sequence, confirmedNames), events: [], movements: [],
                    reservation: "cancelled")
            }
            cases.append(expected)
        }

        try waitForWorker(database, handled: messageIDs)
        let events = try emitted(cases.map(\.events.count).reduce(0, +), fixture)
        for run in cases {
            let comment = Comment(rawValue: "order \(run.orderID): \(run.label)")
            #expect((events[run.orderID] ?? []).map(Self.describe) == run.events, comment)
            // Sorted within a kind: the SKUs of one movement are written in lock order.
            let kinds = ["reserve", "sell", "release", "restock"]
            let ordered = try movements(database, run.orderID).sorted {
                (kinds.firstIndex(of: String($0.prefix { $0 != " " })) ?? 0, $0)
                    < (kinds.firstIndex(of: String($1.prefix { $0 != " " })) ?? 0, $1)
            }
            #expect(ordered == run.movements, comment)
            #expect(try reservation(database, run.orderID) == run.reservation, comment)
        }
        // Every order gave back what it held: the seed is whole again.
        #expect(try stock(database) == Self.seed.mapValues { [$0, 0, 0] })
        #expect(try ledgerViolations(database).isEmpty)
        #expect(try fixture.deadLetters(of: "stock-worker").isEmpty)
    }

    // MARK: payment-worker

    /// Captures − refunds for the order (`PaymentsAudit`).
    private func netCaptured(_ database: PostgresConnection, _ orderID: String) throws -> Int64 {
        Int64(try PaymentsAudit.netCaptured(database)[orderID] ?? 0)
    }

    private func ledger(_ database: PostgresConnection, _ orderID: String) throws -> [String] {
        try database.query("select kind from payment_ledger where order_id = $1 order by id", [.text(orderID)]).rows
            .map { try $0.string("kind") }
    }

    private func paymentStatus(_ database: PostgresConnection, _ orderID: String) throws -> String? {
        try database.query("select status from payments where order_id = $1", [.text(orderID)]).rows.first?
            .text("status")
    }

    @Test("payment-worker: stock.reserved and order.cancelled in both orders, each twice: no net charge")
    func paymentWorker() throws {
        let fixture = try ServiceFixture(watching: [.paymentSucceeded, .paymentFailed, .paymentRefunded])
        try fixture.startWorker("payment-worker")
        let database = try fixture.connectDatabase()
        defer { database.close() }
        // Both orders of the two events, with either one delivered again, right after or last.
        // Several orders per sequence: a batch's charges are prepared concurrently across orders.
        let names = ["stock.reserved", "order.cancelled"]
        let sequences = [[0, 0, 1], [0, 1, 0], [0, 1, 1], [1, 1, 0], [1, 0, 1], [1, 0, 0]]
        let rounds = 10
        var runs: [(orderID: String, sequence: [Int])] = []
        var messageIDs: [String] = []
        for _ in 0..<rounds {
            for sequence in sequences {
                let orderID = newOrderID()
                let placed = placed(orderID)
                let messages: [any ContractMessage] = [
                    StockReserved(reserving: placed), cancelled(orderID, previous: .pending),
                ]
                messageIDs += try publish(sequence.map { messages[$0] }, fixture)
                runs.append((orderID, sequence))
            }
        }

        try waitForWorker(database, handled: messageIDs)
        let chargedFirst = runs.filter { $0.sequence.first == 0 }.count
        let events = try emitted(2 * chargedFirst, fixture)
        for (orderID, sequence) in runs {
            let comment = Comment(rawValue: "order \(orderID): \(Self.label(sequence, names))")
            // Invariant 3: a cancelled order is charged nothing in the end.
            #expect(try netCaptured(database, orderID) == 0, comment)
            let orderEvents = events[orderID] ?? []
            if sequence.first == 0 {
                #expect(orderEvents.map(\.messageType) == [.paymentSucceeded, .paymentRefunded], comment)
                if case .paymentSucceeded(let succeeded)? = orderEvents.first,
                    case .paymentRefunded(let refunded)? = orderEvents.last
                {
                    #expect(refunded.paymentID == succeeded.paymentID, comment)
                    #expect(succeeded.amount == Self.amounts.total && refunded.amount == Self.amounts.total, comment)
                    #expect(refunded.reason == .customerRequest, comment)
                }
                #expect(try ledger(database, orderID) == ["capture", "refund"], comment)
                #expect(try paymentStatus(database, orderID) == "refunded", comment)
            } else {
                #expect(orderEvents.isEmpty, "nothing emitted for a cancelled order: \(comment)")
                #expect(try ledger(database, orderID).isEmpty, "no capture: \(comment)")
                #expect(try paymentStatus(database, orderID) == "cancelled", comment)
            }
        }
        #expect(try fixture.deadLetters(of: "payment-worker").isEmpty)
    }

    // MARK: order-worker

    private func command(_ orderID: String) -> PlaceOrder {
        PlaceOrder(
            orderID: orderID, customer: Self.customer,
            items: [OrderLine(sku: "KB-001", name: "Keyboard", quantity: 2, unitPrice: 20_000)],
            shippingAddress: ShippingAddress(
                street: "Teheran-ro 123", city: "Seoul", postalCode: "06234", country: "KR", detail: "5F"),
            paymentToken: "tok_approve", couponCode: "SUMMER20")
    }

    private func order(_ database: PostgresConnection, _ orderID: String) throws -> (String, String?)? {
        try database.query("select status, reason from orders where order_id = $1", [.text(orderID)]).rows.first
            .map { (try $0.string("status"), try $0.text("reason")) }
    }

    /// The kinds of message the order-worker applied to the order, in the order it applied them.
    private func orderEvents(_ database: PostgresConnection, _ orderID: String) throws -> [String] {
        try database.query("select kind from order_events where order_id = $1 order by id", [.text(orderID)]).rows
            .map { try $0.string("kind") }
    }

    @Test(
        "order-worker: stock.reserved, payment.succeeded and order.cancel in every order, one twice: one cancellation each"
    )
    func orderWorker() throws {
        let fixture = try ServiceFixture(watching: [.orderPlaced, .orderRejected, .orderConfirmed, .orderCancelled])
        try fixture.startWorker("order-worker")
        let database = try fixture.connectDatabase()
        defer { database.close() }

        // Every order is placed first: a saga event for an order not stored yet is retried, then
        // dead-lettered (OrderWorkerTests), which is not what this test is about.
        let permutations = Self.permutations(3)
        let rejectedSequences = [[0, 0, 1], [0, 1, 1]]
        let orderIDs = (0..<(permutations.count + rejectedSequences.count)).map { _ in newOrderID() }
        for orderID in orderIDs { try fixture.publish(command(orderID)) }
        var placedOrders: [String: OrderPlaced] = [:]
        for event in try fixture.events(orderIDs.count) {
            if case .orderPlaced(let placed) = event { placedOrders[placed.orderID] = placed }
        }
        try #require(Set(placedOrders.keys) == Set(orderIDs), "every order placed")

        var messageIDs: [String] = []
        // The customer's cancel is accepted before and after confirmation: every order ends
        // CANCELLED; it is confirmed first iff the payment is applied before the cancel.
        let names = ["stock.reserved", "payment.succeeded", "order.cancel"]
        let kinds = ["stock.reserved", "payment.succeeded", "order.cancel"]
        var runs: [(orderID: String, sequence: [Int])] = []
        for (index, permutation) in permutations.enumerated() {
            let placed = try #require(placedOrders[orderIDs[index]])
            let sequence = Self.withDuplicate(permutation, index)
            let messages: [any ContractMessage] = [
                StockReserved(reserving: placed),
                PaymentSucceeded(
                    orderID: placed.orderID, paymentID: "pay-\(placed.orderID)", currency: placed.currency,
                    amount: placed.amounts.total),
                CancelOrder(orderID: placed.orderID, reason: "changed my mind"),
            ]
            messageIDs += try publish(sequence.map { messages[$0] }, fixture)
            runs.append((placed.orderID, sequence))
        }
        // A payment after the stock was refused (a late redelivery): the order stays cancelled
        // as out of stock, and is never confirmed.
        let rejectedNames = ["stock.rejected", "payment.succeeded"]
        var rejectedRuns: [(orderID: String, sequence: [Int])] = []
        for (offset, sequence) in rejectedSequences.enumerated() {
            let placed = try #require(placedOrders[orderIDs[permutations.count + offset]])
            let messages: [any ContractMessage] = [
                StockRejected(
                    orderID: placed.orderID, message: "KB-001: 2 requested, 1 available",
                    shortages: [StockShortage(sku: "KB-001", requested: 2, available: 1)]),
                PaymentSucceeded(
                    orderID: placed.orderID, paymentID: "pay-\(placed.orderID)", currency: placed.currency,
                    amount: placed.amounts.total),
            ]
            messageIDs += try publish(sequence.map { messages[$0] }, fixture)
            rejectedRuns.append((placed.orderID, sequence))
        }

        try waitForWorker(database, handled: messageIDs)
        let confirmedFirst = runs.filter { Self.first(1, before: 2, in: $0.sequence) }.count
        let events = try emitted(runs.count + confirmedFirst + rejectedRuns.count, fixture)
        for (orderID, sequence) in runs {
            let comment = Comment(rawValue: "order \(orderID): \(Self.label(sequence, names))")
            let expected =
                Self.first(1, before: 2, in: sequence)
                ? ["order.confirmed", "order.cancelled customer_request from CONFIRMED"]
                : ["order.cancelled customer_request from PENDING"]
            #expect((events[orderID] ?? []).map(Self.describe) == expected, comment)
            #expect(try order(database, orderID)! == ("CANCELLED", "customer_request"), comment)
            // Every message, the duplicate included, was applied (and recorded) once.
            #expect(try orderEvents(database, orderID) == ["order.place"] + sequence.map { kinds[$0] }, comment)
        }
        for (orderID, sequence) in rejectedRuns {
            let comment = Comment(rawValue: "order \(orderID): \(Self.label(sequence, rejectedNames))")
            #expect(
                (events[orderID] ?? []).map(Self.describe) == ["order.cancelled out_of_stock from PENDING"], comment)
            #expect(try order(database, orderID)! == ("CANCELLED", "out_of_stock"), comment)
        }
        #expect(try fixture.deadLetters(of: "order-worker").isEmpty)
    }
}
