import CommerceDomain
import CommerceMessages
import Foundation
import Inventory
import Logging
import Mongo
import PaymentsHTTP
import Postgres
import SagaAudit
import Testing

/// Drives the whole saga as the fleet's tests do: the four workers as processes on one
/// ``ServiceFixture``, each with its own store, orders published as an upstream would, their
/// terminal events read back, and the invariants of docs/saga.md audited across every store.
public struct SagaDriver {
    public init() {}

    /// The four workers on one fixture, `copies` processes of each, the payment-workers charging
    /// through one `payment-gateway` process over HTTP (as `scripts/run.sh` runs them); stock
    /// seeded from `stock`. `prepare` runs on the fixture before any worker starts (the cluster
    /// drills declare the worker queues from a node of their choosing there).
    public func startFleet(
        stock: [StockSeed], copies: Int = 1, extra: [String: [String: String]] = [:],
        gatewayEnvironment: [String: String] = [:], databaseOptions: String = "",
        prepare: (ServiceFixture) throws -> Void = { _ in }
    ) throws -> (ServiceFixture, [String: [String: String]]) {
        let fixture = try ServiceFixture(watching: [.orderConfirmed, .orderCancelled, .orderRejected])
        try prepare(fixture)
        // `databaseOptions` is appended to every PostgreSQL URL (the gateway's too), as
        // `&sslmode=verify-full&sslrootcert=…`.
        let databaseURL = { (service: String) throws -> String in
            try fixture.databaseURL(for: service) + databaseOptions
        }
        var gatewayEnvironment = gatewayEnvironment
        if !databaseOptions.isEmpty { gatewayEnvironment["DATABASE_URL"] = try databaseURL("gateway") }
        let seed = FileManager.default.temporaryDirectory.appendingPathComponent("stock-\(fixture.suffix).json")
        let entries = stock.map { #"{"sku":"\#($0.sku)","quantity":\#($0.quantity)}"# }.joined(separator: ",")
        try Data(#"{"stock":[\#(entries)]}"#.utf8).write(to: seed)
        var settings: [String: [String: String]] = [
            "order-worker": ["DATABASE_URL": try databaseURL("orders")],
            "stock-worker": ["DATABASE_URL": try databaseURL("inventory"), "STOCK_SEED_FILE": seed.path],
            "payment-worker": try fixture.startGateway(gatewayEnvironment).merging(
                ["DATABASE_URL": try databaseURL("payments")]) { $1 },
            "notification-worker": ["DATABASE_URL": TestServers.mongoURL, "DATABASE_NAME": fixture.mongoDatabase],
        ]
        for (worker, values) in extra { settings[worker, default: [:]].merge(values) { $1 } }
        for _ in 0..<copies {
            for worker in ["order-worker", "stock-worker", "payment-worker", "notification-worker"] {
                try fixture.startWorker(worker, settings[worker]!)
            }
        }
        return (fixture, settings)
    }

    /// The saga audit over the fixture's four stores and, when it runs a payment-gateway, that
    /// gateway's books read through its charge listing (invariant 6), as `commerce audit` reads them.
    public func audit(_ fixture: ServiceFixture) throws -> SagaAuditReport {
        let client = try MongoClient(uri: TestServers.mongoURL)
        return try SagaAudit.run(
            orders: try TestServers.postgres(url: try fixture.databaseURL(for: "orders")),
            inventory: try TestServers.postgres(url: try fixture.databaseURL(for: "inventory")),
            payments: try TestServers.postgres(url: try fixture.databaseURL(for: "payments")),
            notifications: client.collection("notifications", in: fixture.mongoDatabase),
            processor: processorBooks(fixture))
    }

    /// The charges of the fixture's payment-gateway, every page of its listing.
    public func processorBooks(_ fixture: ServiceFixture) -> SagaAudit.ProcessorBooks {
        guard let gateway = fixture.gateway else { return .notConsulted("the fixture runs no payment-gateway") }
        let reader = HTTPPaymentGateway(
            configuration: HTTPPaymentGateway.Configuration(baseURL: gateway.baseURL, apiKey: gateway.apiKey),
            logger: Logger(label: "saga-test-audit"))
        defer { _ = try? blockingWait { try await reader.shutdown() } }
        do {
            return .charges(try blockingWait { try await reader.listCharges(createdFrom: nil, createdBefore: nil) })
        } catch {
            return .unreadable("\(gateway.baseURL): \(error)")
        }
    }

    /// Audits until clean (compensations and notifications trail the terminal events) or `timeout`.
    public func auditSettled(_ fixture: ServiceFixture, timeout: Duration = .seconds(30)) throws -> SagaAuditReport {
        try waitUntil("a clean audit", timeout: timeout, { try audit(fixture) }) { $0.isClean }
    }

    public func order(_ items: [(String, Int, Int)], token: String = "tok_approve") -> PlaceOrder {
        PlaceOrder(
            orderID: UUID().uuidString.lowercased(),
            customer: Customer(id: "c-1001", email: "kim@example.com", membership: "gold"),
            items: items.map { OrderLine(sku: $0.0, name: $0.0, quantity: $0.1, unitPrice: $0.2) },
            shippingAddress: ShippingAddress(
                street: "Teheran-ro 123", city: "Seoul", postalCode: "06234", country: "KR", detail: "5F"),
            paymentToken: token)
    }

    /// Waits until `count` orders have a terminal event, and returns the events by order id. A
    /// worker killed between publishing and recording it may publish an event twice (at least
    /// once, same message); such copies are one event here.
    public func terminalEvents(_ fixture: ServiceFixture, count: Int) throws -> [String: [AnyMessage]] {
        var byOrder: [String: [AnyMessage]] = [:]
        try waitUntil(
            "\(count) orders with a terminal event", timeout: .seconds(120),
            { () -> Int in
                for event in try fixture.events(0, timeout: .seconds(1))
                where !(byOrder[event.orderID] ?? []).contains(event) {
                    byOrder[event.orderID, default: []].append(event)
                }
                return byOrder.count
            }
        ) { $0 >= count }
        return byOrder
    }

    /// Waits until every order of `orders` has ended, and checks that each ended once and as its
    /// payment token says: cancelled for a declined payment with `tok_decline`, confirmed with any
    /// other. Each order that did not is recorded as an issue at the caller.
    public func expectEnded(
        orders: [PlaceOrder], in fixture: ServiceFixture, sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let events = try terminalEvents(fixture, count: orders.count)
        for (index, command) in orders.enumerated() {
            let ended = events[command.orderID] ?? []
            #expect(ended.count == 1, "\(command.orderID): \(ended)", sourceLocation: sourceLocation)
            if !Self.endedAsExpected(ended.last, declined: command.paymentToken == "tok_decline") {
                Issue.record("order \(index) ended with \(ended)", sourceLocation: sourceLocation)
            }
        }
    }

    /// Whether `event` is the terminal event an order should end with: cancelled for a declined
    /// payment when its token declines, confirmed otherwise.
    public static func endedAsExpected(_ event: AnyMessage?, declined: Bool) -> Bool {
        switch event {
        case .orderConfirmed? where !declined: true
        case .orderCancelled(let cancelled)? where declined && cancelled.reason == .paymentDeclined: true
        default: false
        }
    }
}
