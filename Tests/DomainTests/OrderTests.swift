import CommerceDomain
import PropertyBased
import Testing

@Suite struct OrderTests {
    @Test func newOrderHasTheTotalOfItsLines() {
        let order = Fixtures.order([Fixtures.item("A", quantity: 2, price: 1_000), Fixtures.item("B", price: 500)])
        #expect(order.total == Fixtures.krw(2_500))
        #expect(order.items.count == 2)
    }

    @Test func addingAnExistingProductIncreasesItsQuantity() throws {
        var order = Fixtures.order([Fixtures.item("A", quantity: 2, price: 1_000)])
        try order.add(Fixtures.item("A", quantity: 3, price: 1_000))
        #expect(order.items.count == 1)
        #expect(order.items[0].quantity == 5)
        #expect(order.total == Fixtures.krw(5_000))
    }

    @Test func addingTheSameProductAtAnotherPriceIsAConflict() {
        var order = Fixtures.order([Fixtures.item("A", price: 1_000)])
        let error = #expect(throws: DomainError.self) { try order.add(Fixtures.item("A", price: 900)) }
        #expect(error?.code == .conflictingItem)
        #expect(order.total == Fixtures.krw(1_000))
    }

    @Test func removingALineUpdatesTheTotal() throws {
        var order = Fixtures.order([Fixtures.item("A", price: 1_000), Fixtures.item("B", quantity: 2, price: 300)])
        try order.removeItem(productID: "A")
        #expect(order.items.map(\.productID) == ["B"])
        #expect(order.total == Fixtures.krw(600))
        let error = #expect(throws: DomainError.self) { try order.removeItem(productID: "nope") }
        #expect(error?.code == .itemNotFound)
    }

    @Test func lineInAnotherCurrencyIsRejected() throws {
        var order = Fixtures.order()
        let usdItem = try OrderItem(
            productID: "U", name: "U", quantity: 1, unitPrice: Money(amount: 1, currency: Currency("USD")))
        let error = #expect(throws: DomainError.self) { try order.add(usdItem) }
        #expect(error?.code == .currencyMismatch)
    }

    @Test(arguments: [0, -1])
    func orderItemNeedsPositiveQuantity(quantity: Int) {
        let error = #expect(throws: DomainError.self) {
            try OrderItem(productID: "A", name: "A", quantity: quantity, unitPrice: Fixtures.krw(1))
        }
        #expect(error?.code == .invalidQuantity)
    }

    @Test func totalOverflowIsReportedWhenAdding() {
        var order = Fixtures.order([Fixtures.item("A", price: Int.max)])
        let error = #expect(throws: DomainError.self) { try order.add(Fixtures.item("B", price: 1)) }
        #expect(error?.code == .overflow)
        #expect(order.items.count == 1)
    }

    // MARK: Properties

    @Test func totalIsTheSumOfLineTotals() async {
        let lines = zip(Gen.int(in: 0...9), Gen.int(in: 1...20)).array(of: 0...30)
        let prices = Gen.int(in: 0...1_000_000).array(of: 10)
        await propertyCheck(input: lines, prices) { lines, prices in
            var order = Fixtures.order([])
            for (sku, quantity) in lines {
                try order.add(Fixtures.item("P\(sku)", quantity: quantity, price: prices[sku]))
            }
            let expected = lines.reduce(0) { $0 + $1.1 * prices[$1.0] }
            #expect(order.total.amount == expected)
            #expect(try order.total == Money.sum(order.items.map { try $0.lineTotal() }))
            #expect(Set(order.items.map(\.productID)).count == order.items.count)
        }
    }
}
