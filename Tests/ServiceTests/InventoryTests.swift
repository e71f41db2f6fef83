import CommerceMessages
import Foundation
import Inventory
import Testing

/// The stock worker's pure rules: what an order demands, what it is short of, how movements move
/// units, what the audit calls a violation, and what a stock seed may hold.
@Suite("Inventory: pure rules")
struct InventoryTests {
    private static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    @Test("a repeated SKU is demanded once, with its quantities summed, in first-appearance order")
    func demandMergesRepeatedSKUs() {
        let demand = StockDemand([
            StockLine(sku: "MS-001", quantity: 1), StockLine(sku: "KB-001", quantity: 2),
            StockLine(sku: "MS-001", quantity: 3),
        ])
        #expect(demand.lines == [StockLine(sku: "MS-001", quantity: 4), StockLine(sku: "KB-001", quantity: 2)])
    }

    @Test("SKU rows are locked in sorted order, whatever the order's line order")
    func lockOrderIsSorted() {
        let demand = StockDemand([
            StockLine(sku: "MN-001", quantity: 1), StockLine(sku: "KB-001", quantity: 1),
            StockLine(sku: "MS-001", quantity: 1),
        ])
        #expect(demand.lockOrder == ["KB-001", "MN-001", "MS-001"])
    }

    @Test("an order's lines become the demand of their SKUs and quantities")
    func demandFromOrderLines() {
        let demand = StockDemand([
            OrderLine(sku: "KB-001", name: "Keyboard", quantity: 2, unitPrice: 45_000),
            OrderLine(sku: "KB-001", name: "Keyboard", quantity: 1, unitPrice: 45_000),
        ])
        #expect(demand.lines == [StockLine(sku: "KB-001", quantity: 3)])
    }

    @Test("a sum of quantities too large for Int saturates instead of trapping")
    func demandSaturates() {
        let demand = StockDemand([StockLine(sku: "KB-001", quantity: .max), StockLine(sku: "KB-001", quantity: 5)])
        #expect(demand.lines == [StockLine(sku: "KB-001", quantity: .max)])
        #expect(demand.shortages(available: ["KB-001": 1_000]).count == 1)
    }

    @Test("nothing is short when every SKU has at least its quantity available")
    func noShortages() {
        let demand = StockDemand([StockLine(sku: "KB-001", quantity: 2), StockLine(sku: "MS-001", quantity: 1)])
        #expect(demand.shortages(available: ["KB-001": 2, "MS-001": 10]).isEmpty)
    }

    @Test("a short line and an unknown SKU (0 available) are both reported, the rest is not")
    func shortagesListOnlyShortLines() {
        let demand = StockDemand([
            StockLine(sku: "KB-001", quantity: 2), StockLine(sku: "MS-001", quantity: 1),
            StockLine(sku: "ZZ-404", quantity: 1),
        ])
        #expect(
            demand.shortages(available: ["KB-001": 1, "MS-001": 5]) == [
                StockShortage(sku: "KB-001", requested: 2, available: 1),
                StockShortage(sku: "ZZ-404", requested: 1, available: 0),
            ])
    }

    @Test("repeated SKUs are checked on their sum: 2 + 2 of 3 available is short")
    func shortageOnTheSum() {
        let demand = StockDemand([StockLine(sku: "KB-001", quantity: 2), StockLine(sku: "KB-001", quantity: 2)])
        #expect(
            demand.shortages(available: ["KB-001": 3]) == [StockShortage(sku: "KB-001", requested: 4, available: 3)])
    }

    @Test("shortages read as the contract's example message")
    func shortageMessage() {
        let message = StockDemand.describe([
            StockShortage(sku: "KB-001", requested: 2, available: 1),
            StockShortage(sku: "MN-001", requested: 1, available: 0),
        ])
        #expect(message == "KB-001: 2 requested, 1 available; MN-001: 1 requested, 0 available")
    }

    @Test("every movement but adjust takes from one counter what it gives another")
    func movementsMoveBetweenCounters() {
        #expect(StockMovementKind.reserve.source == .available && StockMovementKind.reserve.destination == .reserved)
        #expect(StockMovementKind.release.source == .reserved && StockMovementKind.release.destination == .available)
        #expect(StockMovementKind.sell.source == .reserved && StockMovementKind.sell.destination == .sold)
        #expect(StockMovementKind.restock.source == .sold && StockMovementKind.restock.destination == .available)
        #expect(StockMovementKind.adjust.source == nil && StockMovementKind.adjust.destination == .available)
    }

    private func position(
        available: Int? = 93, reserved: Int? = 2, sold: Int? = 5, held: Int = 2, soldByReservations: Int = 5
    ) -> InventoryAudit.Position {
        // 100 in, 10 reserved, 3 of them released, 5 sold: available 100 - 10 + 3, reserved 10 - 3 - 5, sold 5.
        InventoryAudit.Position(
            sku: "KB-001", available: available, reserved: reserved, sold: sold,
            movements: [.adjust: 100, .reserve: 10, .release: 3, .sell: 5], heldByReservations: held,
            soldByReservations: soldByReservations)
    }

    @Test("the ledger's balance of each counter is what entered it minus what left it")
    func ledgerBalance() {
        let position = position()
        #expect(position.ledgerBalance(of: .available) == 93)
        #expect(position.ledgerBalance(of: .reserved) == 2)
        #expect(position.ledgerBalance(of: .sold) == 5)
    }

    @Test("a SKU whose counters match its ledger and reservations passes the audit")
    func auditPasses() {
        #expect(InventoryAudit.violations(in: [position()]).isEmpty)
    }

    @Test("a unit that vanished breaks conservation and the ledger balance")
    func auditFindsLostUnits() {
        let violations = InventoryAudit.violations(in: [position(available: 92)])
        #expect(violations.count == 2)
        #expect(violations.allSatisfy { $0.sku == "KB-001" })
    }

    @Test("a negative counter, a reservation mismatch and a missing stock row are violations")
    func auditFindsEachRule() {
        #expect(
            InventoryAudit.violations(in: [position(available: 100, reserved: -5, sold: 5)]).contains {
                $0.problem.contains("negative")
            })
        #expect(
            InventoryAudit.violations(in: [position(held: 3)]).map(\.problem) == ["reserved is 2, reservations hold 3"])
        #expect(InventoryAudit.violations(in: [position(soldByReservations: 4)]).count == 1)
        #expect(InventoryAudit.violations(in: [position(available: nil, reserved: nil, sold: nil)]).count == 1)
    }

    @Test("the shipped config/stock.json is a valid seed of about eight SKUs")
    func shippedSeedIsValid() throws {
        let catalog = try StockCatalog(contentsOf: Self.packageRoot.appendingPathComponent("config/stock.json"))
        #expect(catalog.stock.count >= 8)
        #expect(catalog.stock.contains { $0.sku == "KB-001" && $0.quantity > 0 })
    }

    @Test("a seed is refused for a repeated SKU, a negative quantity, an empty SKU or a wrong shape")
    func invalidSeedsAreRefused() {
        #expect(throws: StockCatalogError.self) {
            try StockCatalog(stock: [StockSeed(sku: "KB-001", quantity: 1), StockSeed(sku: "KB-001", quantity: 2)])
        }
        #expect(throws: StockCatalogError.self) { try StockCatalog(stock: [StockSeed(sku: "KB-001", quantity: -1)]) }
        #expect(throws: StockCatalogError.self) { try StockCatalog(stock: [StockSeed(sku: "", quantity: 1)]) }
        #expect(throws: StockCatalogError.self) { try StockCatalog(json: Data(#"{"items": []}"#.utf8)) }
        #expect(throws: StockCatalogError.self) {
            try StockCatalog(json: Data(#"{"stock": [{"sku": "KB-001"}]}"#.utf8))
        }
    }

    @Test("a seed decodes its SKUs, names and quantities")
    func seedDecodes() throws {
        let catalog = try StockCatalog(
            json: Data(
                #"{"stock": [{"sku": "KB-001", "name": "Keyboard", "quantity": 100}, {"sku": "MS-001", "quantity": 0}]}"#
                    .utf8))
        #expect(
            catalog.stock == [
                StockSeed(sku: "KB-001", name: "Keyboard", quantity: 100), StockSeed(sku: "MS-001", quantity: 0),
            ])
    }
}
