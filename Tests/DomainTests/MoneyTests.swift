import CommerceDomain
import PropertyBased
import Testing

@Suite struct MoneyTests {
    @Test func defaultsToKRW() throws {
        #expect(try Money(amount: 100).currency == .krw)
        #expect(Money.zero().isZero)
    }

    @Test(arguments: [-1, -50_000, Int.min])
    func negativeAmountIsAnError(amount: Int) {
        #expect(throws: DomainError(.negativeAmount, "money cannot be negative (\(amount) KRW)")) {
            try Money(amount: amount)
        }
    }

    @Test func addsSameCurrency() throws {
        #expect(try Fixtures.krw(1_000).adding(Fixtures.krw(234)) == Fixtures.krw(1_234))
    }

    @Test func addingDifferentCurrenciesIsAnError() throws {
        let usd = try Money(amount: 5, currency: Currency("USD"))
        let error = #expect(throws: DomainError.self) { try Fixtures.krw(5).adding(usd) }
        #expect(error?.code == .currencyMismatch)
    }

    @Test func additionOverflowIsAnErrorNotACrash() {
        let error = #expect(throws: DomainError.self) { try Fixtures.krw(Int.max).adding(Fixtures.krw(1)) }
        #expect(error?.code == .overflow)
    }

    @Test func multipliesByQuantity() throws {
        #expect(try Fixtures.krw(45_000).multiplied(by: 2) == Fixtures.krw(90_000))
        #expect(try Fixtures.krw(45_000).multiplied(by: 0) == Fixtures.krw(0))
    }

    @Test func multiplicationOverflowAndNegativeQuantityAreErrors() {
        #expect(throws: DomainError.self) { try Fixtures.krw(Int.max / 2 + 1).multiplied(by: 2) }
        let error = #expect(throws: DomainError.self) { try Fixtures.krw(1).multiplied(by: -1) }
        #expect(error?.code == .invalidQuantity)
    }

    @Test func subtractionBelowZeroIsAnError() throws {
        #expect(try Fixtures.krw(10).subtracting(Fixtures.krw(4)) == Fixtures.krw(6))
        let error = #expect(throws: DomainError.self) { try Fixtures.krw(4).subtracting(Fixtures.krw(10)) }
        #expect(error?.code == .negativeAmount)
    }

    @Test func percentageRoundsDown() throws {
        #expect(try Fixtures.krw(999).percentage(10) == Fixtures.krw(99))
        #expect(try Fixtures.krw(90_000).percentage(20) == Fixtures.krw(18_000))
        #expect(throws: DomainError.self) { try Fixtures.krw(1).percentage(101) }
        #expect(throws: DomainError.self) { try Fixtures.krw(Int.max).percentage(50) }
    }

    @Test(arguments: ["KRW", "USD", "EUR"])
    func acceptsWellFormedCurrencyCodes(code: String) throws {
        #expect(try Currency(code).code == code)
    }

    @Test(arguments: ["krw", "KR", "KRWW", "", "K1W", "ＫＲＷ"])
    func rejectsMalformedCurrencyCodes(code: String) {
        let error = #expect(throws: DomainError.self) { try Currency(code) }
        #expect(error?.code == .invalidCurrency)
    }

    // MARK: Properties

    @Test func additionIsCommutativeAndAssociativeWhenItFits() async {
        let amount = Gen.int(in: 0...(Int.max / 4))
        await propertyCheck(input: amount, amount, amount) { a, b, c throws in
            let (x, y, z) = (Fixtures.krw(a), Fixtures.krw(b), Fixtures.krw(c))
            #expect(try x.adding(y) == y.adding(x))
            #expect(try x.adding(y).adding(z) == x.adding(y.adding(z)))
            #expect(try x.adding(.zero()) == x)
        }
    }

    @Test func additionEitherFitsExactlyOrReportsOverflow() async {
        let amount = Gen.int(in: 0...Int.max)
        await propertyCheck(input: amount, amount) { a, b throws in
            let (sum, overflow) = a.addingReportingOverflow(b)
            do {
                let result = try Fixtures.krw(a).adding(Fixtures.krw(b))
                #expect(!overflow)
                #expect(result.amount == sum)
            } catch {
                #expect(overflow)
                #expect((error as? DomainError)?.code == .overflow)
            }
        }
    }

    @Test func multiplicationEqualsRepeatedAdditionOrReportsOverflow() async {
        await propertyCheck(input: Gen.int(in: 0...Int.max), Gen.int(in: 0...50)) { amount, quantity in
            let money = Fixtures.krw(amount)
            do {
                let product = try money.multiplied(by: quantity)
                #expect(try Money.sum(Array(repeating: money, count: quantity)) == product)
            } catch {
                #expect((error as? DomainError)?.code == .overflow)
                #expect(amount.multipliedReportingOverflow(by: quantity).overflow)
            }
        }
    }

    @Test func subtractionUndoesAddition() async {
        let amount = Gen.int(in: 0...(Int.max / 2))
        await propertyCheck(input: amount, amount) { a, b throws in
            #expect(try Fixtures.krw(a).adding(Fixtures.krw(b)).subtracting(Fixtures.krw(b)) == Fixtures.krw(a))
        }
    }

    @Test func percentageNeverExceedsTheAmount() async {
        await propertyCheck(input: Gen.int(in: 0...(Int.max / 100)), Gen.int(in: 0...100)) { amount, percent in
            let part = try Fixtures.krw(amount).percentage(percent)
            #expect(part.amount <= amount)
            #expect(part.amount == amount * percent / 100)
        }
    }
}
