import CommerceDomain
import PropertyBased
import Testing

@Suite struct OrderTests {
    @Test func newOrderIsPendingWithTotalOfLines() {
        let order = Fixtures.order([Fixtures.item("A", quantity: 2, price: 1_000), Fixtures.item("B", price: 500)])
        #expect(order.status == .pending)
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

    @Test func itemsChangeOnlyWhilePending() throws {
        var order = Fixtures.order()
        try order.markStockReserved()
        let addError = #expect(throws: DomainError.self) { try order.add(Fixtures.item("X", price: 1)) }
        #expect(addError?.code == .orderNotPending)
        let removeError = #expect(throws: DomainError.self) { try order.removeItem(productID: "KB-001") }
        #expect(removeError?.code == .orderNotPending)
        #expect(throws: DomainError.self) { try order.changeShippingAddress(Fixtures.address) }
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

    @Test func emptyOrderCannotBeConfirmed() {
        var order = Fixtures.order([])
        let error = #expect(throws: DomainError.self) { try order.confirm() }
        #expect(error?.code == .emptyOrder)
        #expect(order.status == .pending)
    }

    @Test func happyPathAndIdempotentTransitions() throws {
        var order = Fixtures.order()
        #expect(try order.markStockReserved())
        #expect(try !order.markStockReserved())
        #expect(try order.confirm())
        #expect(try !order.confirm())
        #expect(try !order.markStockReserved())  // a late stock.reserved after confirmation
        #expect(order.status == .confirmed)
        #expect(order.status.isTerminal)
    }

    @Test func paymentMayBeSeenBeforeStockReservation() throws {
        var order = Fixtures.order()
        #expect(try order.confirm())
        #expect(order.status == .confirmed)
    }

    @Test(arguments: [OrderOutcomeReason.outOfStock, .paymentDeclined, .customerRequest, .timeout])
    func pendingOrReservedOrderCanBeCancelled(reason: OrderOutcomeReason) throws {
        var pending = Fixtures.order()
        #expect(try pending.cancel(reason: reason))
        #expect(pending.status == .cancelled && pending.outcomeReason == reason)
        var reserved = Fixtures.order()
        try reserved.markStockReserved()
        #expect(try reserved.cancel(reason: reason))
        #expect(try !reserved.cancel(reason: .timeout))  // redelivery keeps the first reason
        #expect(reserved.outcomeReason == reason)
    }

    @Test func confirmedOrderIsCancelledOnlyByTheCustomer() throws {
        var order = Fixtures.order()
        try order.confirm()
        let error = #expect(throws: DomainError.self) { try order.cancel(reason: .timeout) }
        #expect(error?.code == .invalidTransition)
        #expect(try order.cancel(reason: .customerRequest))
        #expect(order.status == .cancelled)
    }

    @Test func latePaymentForCancelledOrderDoesNotConfirmIt() throws {
        var order = Fixtures.order()
        try order.cancel(reason: .timeout)
        let error = #expect(throws: DomainError.self) { try order.confirm() }
        #expect(error?.code == .invalidTransition)
        #expect(throws: DomainError.self) { try order.markStockReserved() }
        #expect(order.status == .cancelled)
    }

    @Test func onlyPendingOrdersAreRejectedAndRejectionIsFinal() throws {
        var order = Fixtures.order()
        #expect(try order.reject())
        #expect(try !order.reject())
        #expect(order.outcomeReason == .invalidOrder)
        #expect(throws: DomainError.self) { try order.cancel(reason: .customerRequest) }
        #expect(throws: DomainError.self) { try order.confirm() }
        var reserved = Fixtures.order()
        try reserved.markStockReserved()
        #expect(throws: DomainError.self) { try reserved.reject() }
        #expect(throws: DomainError.self) { try reserved.cancel(reason: .invalidOrder) }
    }

    @Test func statusMachineTable() {
        let allowed: Set<String> = [
            "PENDING>STOCK_RESERVED", "PENDING>CONFIRMED", "STOCK_RESERVED>CONFIRMED", "PENDING>CANCELLED",
            "STOCK_RESERVED>CANCELLED", "CONFIRMED>CANCELLED", "PENDING>REJECTED",
        ]
        for from in OrderStatus.allCases {
            for to in OrderStatus.allCases {
                let reason: OrderOutcomeReason? =
                    to == .cancelled ? .customerRequest : to == .rejected ? .invalidOrder : nil
                #expect(
                    from.canTransition(to: to, reason: reason) == allowed.contains("\(from.rawValue)>\(to.rawValue)"),
                    "\(from) → \(to)")
            }
        }
    }

    @Test func restoredOrderKeepsItsStatus() throws {
        let order = try Order(
            id: "o", customerID: "c", currency: .krw, shippingAddress: Fixtures.address,
            items: [Fixtures.item("A", price: 10)], status: .cancelled, outcomeReason: .timeout)
        #expect(order.status == .cancelled && order.outcomeReason == .timeout && order.total == Fixtures.krw(10))
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
