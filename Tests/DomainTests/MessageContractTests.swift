import CommerceDomain
import CommerceMessages
import Foundation
import Testing

@Suite struct MessageContractTests {
    @Test func everyMessageTypeHasASample() {
        #expect(Fixtures.everyMessage.map(\.messageType) == MessageType.allCases)
        for type in MessageType.allCases { #expect(type.contractType.messageType == type) }
    }

    @Test(arguments: Fixtures.everyMessage)
    func roundTripsThroughItsBody(message: AnyMessage) throws {
        let body = message.encodedBody()
        let decoded = try AnyMessage.decode(type: message.messageType.rawValue, body: body)
        #expect(decoded == message)
        #expect(decoded.encodedBody() == body, "encoding is deterministic")
        #expect(decoded.orderID == Fixtures.orderID)
    }

    @Test func bodiesUseSortedSnakeCaseKeys() throws {
        let body = String(decoding: AnyMessage.placeOrder(Fixtures.placeOrder).encodedBody(), as: UTF8.self)
        #expect(body.hasPrefix(#"{"coupon_code":"SUMMER20","currency":"KRW","customer":{"email""#))
        #expect(body.contains(#""unit_price":45000"#))
        #expect(body.contains(#""postal_code":"06234""#))
        #expect(!body.contains("orderID") && !body.contains("unitPrice"))
    }

    @Test func absentOptionalsAreOmitted() {
        let command = PlaceOrder(
            orderID: "o", customer: Customer(id: "c", email: "a@b.co"), items: [],
            shippingAddress: ShippingAddress(street: "s", city: "c", postalCode: "p"), paymentToken: "t")
        let body = String(decoding: command.encodedBody(), as: UTF8.self)
        #expect(!body.contains("coupon_code") && !body.contains("membership") && !body.contains("detail"))
        #expect(!body.contains("null"))
    }

    @Test func designDocumentOrderPlaceDecodes() throws {
        let command = try PlaceOrder.decode(from: Array(Fixtures.designPlaceOrderBody.utf8))
        #expect(command == Fixtures.placeOrder)
        #expect(command.orderRequest.lines.first?.unitPrice == 45_000)
    }

    @Test func unknownExtraKeysAreIgnored() throws {
        let body = #"{"order_id":"o-1","reason":"x","added_later":{"nested":[1,2]},"priority":3}"#
        #expect(try CancelOrder.decode(from: Array(body.utf8)) == CancelOrder(orderID: "o-1", reason: "x"))
    }

    @Test func nullOptionalIsAbsent() throws {
        var body = Fixtures.designPlaceOrderBody
        body = body.replacingOccurrences(of: #""SUMMER20""#, with: "null")
        #expect(try PlaceOrder.decode(from: Array(body.utf8)).couponCode == nil)
    }

    @Test func nonPositiveQuantityInACommandIsABusinessRuleNotAContractError() throws {
        let body = Fixtures.designPlaceOrderBody.replacingOccurrences(of: #""quantity": 2"#, with: #""quantity": 0"#)
        let command = try PlaceOrder.decode(from: Array(body.utf8))
        let report = OrderValidator(coupons: Fixtures.catalog).validate(command.orderRequest)
        #expect(report.failures.map(\.code) == [.invalidQuantity])
        let rejected = OrderRejected(command: command, report: report)
        #expect(rejected.reason == .invalidOrder)
        #expect(
            rejected.violations == [
                Violation(code: "invalid_quantity", field: "items[0].quantity", message: "quantity must be > 0, got 0")
            ])
    }

    @Test func sagaHelpersCarryWhatTheNextWorkerNeeds() throws {
        let validator = OrderValidator(coupons: Fixtures.catalog)
        let order = try validator.makeOrder(from: Fixtures.placeOrder.orderRequest)
        let quote = try Pricing(coupons: Fixtures.catalog).quote(for: order, couponCode: "summer20", membership: "gold")
        let placed = OrderPlaced(order: order, quote: quote, command: Fixtures.placeOrder)
        #expect(placed.amounts == Fixtures.amounts)
        #expect(
            placed.lines
                == Fixtures.lines.map { OrderLine(sku: $0.sku, name: "Keyboard", quantity: 2, unitPrice: 45_000) })
        #expect(placed.couponCode == "SUMMER20")
        let reserved = StockReserved(reserving: placed)
        #expect(reserved.amount == 64_800 && reserved.paymentToken == "tok_approve")
        #expect(reserved.lines == [StockLine(sku: "KB-001", quantity: 2)])
    }

    @Test func envelopeForAReply() {
        let command = Envelope(correlationID: Fixtures.orderID, type: "order.place", appID: "storefront")
        let placedEnvelope = AnyMessage.placeOrder(Fixtures.placeOrder).message.envelope(
            appID: "order-worker", causedBy: command)
        #expect(placedEnvelope.correlationID == Fixtures.orderID)
        #expect(placedEnvelope.causationID == command.messageID)
        #expect(placedEnvelope.messageID != command.messageID)
    }

    @Test func decodingWithTheEnvelopeChecksContentTypeAndCorrelation() throws {
        let body = Fixtures.placeOrder.encodedBody()
        let good = Envelope(
            correlationID: Fixtures.orderID, type: "order.place", appID: "shop",
            contentType: "application/json; charset=utf-8")
        #expect(try AnyMessage.decode(envelope: good, body: body) == .placeOrder(Fixtures.placeOrder))

        var wrongType = good
        wrongType.contentType = "text/plain"
        let error = #expect(throws: ContractError.self) { try AnyMessage.decode(envelope: wrongType, body: body) }
        #expect(error?.code == .unsupportedContentType)

        var otherOrder = good
        otherOrder.correlationID = "another"
        do {
            _ = try AnyMessage.decode(envelope: otherOrder, body: body)
            Issue.record("expected a correlation mismatch")
        } catch {
            #expect(error.code == .correlationMismatch && error.field == "correlation_id")
        }
    }
}
