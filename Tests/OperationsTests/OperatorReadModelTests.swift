import CommerceTestKit
import Foundation
import Inventory
import Ordering
import Postgres
import SagaAudit
import Testing

/// What the operator tool reads and writes through the services' own modules, called directly
/// against a real PostgreSQL database of the test's own: the stock administration of Inventory,
/// the order read model of Ordering and the audit's duplicated-effect checks.
@Suite("Operator read models and stock administration")
struct OperatorReadModelTests {
    @Test("setting stock creates SKUs, records one adjust movement per change and keeps the ledger balanced")
    func stockAdministrationKeepsTheLedger() async throws {
        try await offThePool {
            let fixture = try ServiceFixture()
            let database = try fixture.connectDatabase()
            defer { database.close() }

            let created = try StockAdministration.set(
                [StockSeed(sku: "MS-001", quantity: 5), StockSeed(sku: "KB-001", name: "Keyboard", quantity: 3)],
                on: database)
            #expect(created.map(\.sku) == ["KB-001", "MS-001"])
            #expect(created.allSatisfy { $0.previous == nil })
            #expect(created.map(\.adjustment) == [3, 5])

            let changed = try StockAdministration.set(
                [StockSeed(sku: "KB-001", quantity: 1), StockSeed(sku: "MS-001", quantity: 5)], on: database)
            #expect(changed[0].previous == 3)
            #expect(changed[0].available == 1)
            #expect(changed[0].adjustment == -2)
            #expect(changed[1].adjustment == 0)

            #expect(try StockAdministration.tableExists(in: database))
            let positions = try InventoryAudit.positions(on: database)
            #expect(positions.first { $0.sku == "KB-001" }?.available == 1)
            #expect(positions.first { $0.sku == "KB-001" }?.movements[.adjust] == 1)
            #expect(InventoryAudit.violations(in: positions).isEmpty)
            #expect(try SagaAudit.duplicatedStockMovements(database).isEmpty)
        }
    }

    @Test("a stock movement recorded twice for one order is a duplicated effect")
    func duplicatedStockMovementIsReported() async throws {
        try await offThePool {
            let fixture = try ServiceFixture()
            let database = try fixture.connectDatabase()
            defer { database.close() }
            _ = try StockAdministration.set([StockSeed(sku: "KB-001", quantity: 5)], on: database)
            // The effect of one `order.placed` handled twice without the inbox.
            for _ in 0..<2 {
                try database.query(
                    "insert into stock_movements (sku, order_id, kind, quantity) values ('KB-001', 'o-1', 'reserve', 1)"
                )
            }
            let duplicated = try SagaAudit.duplicatedStockMovements(database)
            #expect(
                duplicated == [
                    SagaAudit.DuplicatedEffect(
                        service: "inventory", orderID: "o-1", kind: "reserve", sku: "KB-001", count: 2)
                ])
            #expect(duplicated[0].description == "inventory: order o-1 has 2 reserve movements of KB-001")
        }
    }

    @Test("the order read model reads one order, and lists by status and time, newest first")
    func orderViewReadsAndLists() async throws {
        try await offThePool {
            let fixture = try ServiceFixture()
            let database = try fixture.connectDatabase()
            defer { database.close() }
            #expect(try OrderView.tableExists(in: database) == false)
            try OrderSchema.migrate(database)
            #expect(try OrderView.tableExists(in: database))
            try database.query(
                """
                insert into orders (order_id, customer, currency, lines, amounts, status, payment_id, created_at)
                values
                  ('o-old', '{"id": "c-1", "email": "kim@example.com"}', 'KRW',
                   '[{"sku": "KB-001", "name": "Keyboard", "quantity": 2, "unit_price": 45000}]',
                   '{"subtotal": 90000, "coupon_discount": 0, "membership_discount": 0, "shipping_fee": 0,
                     "total": 90000}', 'CONFIRMED', 'pay-1', now() - interval '2 hours'),
                  ('o-new', null, null, '[]', null, 'CANCELLED', null, now())
                """)

            let old = try #require(try OrderView.read("o-old", from: database))
            #expect(old.status == "CONFIRMED")
            #expect(old.customer?.id == "c-1")
            #expect(old.lines.map(\.quantity) == [2])
            #expect(old.amounts?.total == 90_000)
            #expect(old.paymentID == "pay-1")
            #expect(try OrderView.read("o-missing", from: database) == nil)
            #expect(
                try OrderView.statuses(of: ["o-old", "o-new", "o-missing"], from: database)
                    == ["o-old": "CONFIRMED", "o-new": "CANCELLED"])

            #expect(
                try OrderView.list(status: nil, since: nil, limit: 10, from: database).map(\.orderID) == [
                    "o-new", "o-old",
                ])
            #expect(
                try OrderView.list(status: "CONFIRMED", since: nil, limit: 10, from: database).map(\.orderID) == [
                    "o-old"
                ])
            #expect(
                try OrderView.list(status: nil, since: Date().addingTimeInterval(-3600), limit: 10, from: database)
                    .map(\.orderID) == ["o-new"])
            #expect(try OrderView.list(status: nil, since: nil, limit: 1, from: database).map(\.orderID) == ["o-new"])
        }
    }
}
