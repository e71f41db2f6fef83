import CommerceDomain
import CommerceMessages
import Foundation
import Mongo
import Notifications
import Testing
import WorkerRuntime

/// The notification worker's pure parts: the text of each event, amounts as people read them,
/// the stored document and the audit's tally (docs/saga.md, notification-worker).
@Suite("Notifications")
struct NotificationTests {
    static let customer = Customer(id: "c-1001", email: "kim@example.com", membership: "gold")
    static let amounts = PriceBreakdown(
        subtotal: 120_000, couponDiscount: 0, membershipDiscount: 0, shippingFee: 3_000, total: 123_000)
    let renderer = NotificationRenderer()

    static func confirmed() -> OrderConfirmed {
        OrderConfirmed(
            orderID: "o-1", customer: customer, currency: .krw,
            lines: [
                OrderLine(sku: "KB-001", name: "Keyboard", quantity: 2, unitPrice: 50_000),
                OrderLine(sku: "MS-001", name: "Mouse", quantity: 1, unitPrice: 20_000),
            ],
            shippingAddress: ShippingAddress(street: "1 Sejong-daero", city: "Seoul", postalCode: "04524"),
            amounts: amounts, paymentID: "p-1")
    }

    static func cancelled(_ reason: OrderOutcomeReason, message: String = "", previous: OrderStatus = .pending)
        -> OrderCancelled
    {
        OrderCancelled(
            orderID: "o-2", customer: customer, currency: .krw, amounts: amounts, reason: reason, message: message,
            previousStatus: previous)
    }

    @Test("order.confirmed: an email to the customer with the total in won, the order and the payment")
    func confirmed() {
        let notification = renderer.render(Self.confirmed())
        #expect(notification.channel == .email)
        #expect(notification.recipient == "kim@example.com")
        #expect(notification.eventType == .orderConfirmed)
        #expect(notification.orderID == "o-1")
        #expect(notification.subject == "Your order o-1 is confirmed")
        #expect(notification.body.contains("₩123,000"))
        #expect(notification.body.contains("o-1"))
        #expect(notification.body.contains("3 items"))
        #expect(notification.body.contains("p-1"))
        #expect(notification.amount == 123_000)
        #expect(notification.currency == "KRW")
        #expect(notification.reason == nil)
        #expect(renderer.render(AnyMessage.orderConfirmed(Self.confirmed())) == notification)
    }

    @Test("order.confirmed names the whole shipping address on one line, detail included")
    func confirmedNamesTheFullAddress() {
        var event = Self.confirmed()
        event.shippingAddress = ShippingAddress(
            street: "Teheran-ro 123", city: "Seoul", postalCode: "06234", country: "KR", detail: "5F")
        let body = renderer.render(event).body
        #expect(body.contains("It will ship to Teheran-ro 123, 5F, Seoul 06234, KR."), "\(body)")
    }

    @Test("order.cancelled: the reason in words, the event's message, the refund promise")
    func cancelled() {
        let notification = renderer.render(
            Self.cancelled(.outOfStock, message: "KB-001: 2 requested, 1 available", previous: .pending))
        #expect(notification.channel == .email)
        #expect(notification.recipient == "kim@example.com")
        #expect(notification.eventType == .orderCancelled)
        #expect(notification.subject == "Your order o-2 was cancelled")
        #expect(notification.body.contains("because some items are out of stock."))
        #expect(notification.body.contains("Details: KB-001: 2 requested, 1 available."))
        #expect(notification.body.contains("If you were charged ₩123,000, it will be refunded in full."))
        #expect(notification.reason == .outOfStock)
        #expect(notification.amount == 123_000)

        let afterConfirmation = renderer.render(
            Self.cancelled(.customerRequest, message: "Changed my mind!", previous: .confirmed))
        #expect(afterConfirmation.body.contains("because you asked us to cancel it."))
        #expect(afterConfirmation.body.contains("Details: Changed my mind!"))
        #expect(!afterConfirmation.body.contains("Changed my mind!."))
        #expect(afterConfirmation.body.contains("The ₩123,000 you paid will be refunded in full."))

        let blank = renderer.render(Self.cancelled(.timeout, message: "  "))
        #expect(!blank.body.contains("Details"))
    }

    @Test("order.rejected: the reason, the message, every violation; no amount when it was not priced")
    func rejected() {
        let event = OrderRejected(
            orderID: "o-3", customer: Self.customer, currency: .krw, message: "2 problems",
            violations: [
                Violation(code: "empty_order", field: "items", message: "the order has no items"),
                Violation(code: "unknown_coupon", field: "coupon", message: "coupon NOPE does not exist"),
            ])
        let notification = renderer.render(event)
        #expect(notification.channel == .email)
        #expect(notification.recipient == "kim@example.com")
        #expect(notification.eventType == .orderRejected)
        #expect(notification.subject == "We could not accept your order o-3")
        #expect(notification.body.contains("because the order is not valid."))
        #expect(notification.body.contains("Details: 2 problems."))
        #expect(notification.body.contains("Nothing was charged."))
        #expect(notification.body.contains("- the order has no items\n- coupon NOPE does not exist"))
        #expect(notification.reason == .invalidOrder)
        #expect(notification.amount == nil)
        #expect(notification.currency == "KRW")

        var priced = event
        priced.amounts = Self.amounts
        #expect(renderer.render(priced).amount == 123_000)
    }

    @Test("order.rejected of a command whose customer and currency broke the contract: recorded, sent nowhere")
    func rejectedWithoutCustomer() {
        let event = OrderRejected(
            orderID: "o-5", customer: nil, currency: nil, message: "wrong_type at customer",
            violations: [Violation(code: "wrong_type", field: "customer", message: "expected an object")])
        let notification = renderer.render(event)
        #expect(notification.channel == NotificationChannel.none)
        #expect(notification.recipient == nil)
        #expect(notification.currency == nil)
        #expect(notification.body.contains("- expected an object"))
        let document = notification.document(eventMessageID: "m-5", createdAt: Date(timeIntervalSince1970: 0))
        #expect(document["currency"] == BSONValue.null && document["recipient"] == BSONValue.null)
    }

    @Test("payment.refunded: no customer in the event, so no recipient and channel none")
    func refunded() {
        let event = PaymentRefunded(
            orderID: "o-4", paymentID: "p-4", currency: .krw, amount: 1_234_567, reason: .customerRequest)
        let notification = renderer.render(event)
        #expect(notification.channel == .none)
        #expect(notification.recipient == nil)
        #expect(notification.eventType == .paymentRefunded)
        #expect(notification.subject == "Refund of ₩1,234,567 for order o-4")
        #expect(notification.body.contains("We have refunded ₩1,234,567 for order o-4 (payment p-4)"))
        #expect(notification.body.contains("you asked us to cancel it"))
        #expect(notification.amount == 1_234_567)
        #expect(notification.reason == .customerRequest)
    }

    @Test(
        "KRW as people read it: the won sign, thousands separators, no decimals",
        arguments: [
            (0, "₩0"), (5, "₩5"), (999, "₩999"), (1_000, "₩1,000"), (123_000, "₩123,000"),
            (1_234_567, "₩1,234,567"), (1_000_000_000, "₩1,000,000,000"), (-3_000, "-₩3,000"),
        ])
    func krw(amount: Int, text: String) {
        #expect(AmountFormatter.format(amount, currency: "KRW") == text)
    }

    @Test(
        "other currencies: the code, and decimals when the minor unit is known",
        arguments: [
            (1_234, "USD", "USD 12.34"), (5, "EUR", "EUR 0.05"), (123_456_789, "USD", "USD 1,234,567.89"),
            (1_200, "JPY", "JPY 1,200"), (1_500, "KWD", "KWD 1.500"), (1_234, "XYZ", "XYZ 1,234"),
            (0, "USD", "USD 0.00"),
        ])
    func otherCurrencies(amount: Int, code: String, text: String) {
        #expect(AmountFormatter.format(amount, currency: code) == text)
    }

    @Test("every reason in words", arguments: OrderOutcomeReason.allCases)
    func reasons(reason: OrderOutcomeReason) {
        let expected: [OrderOutcomeReason: String] = [
            .outOfStock: "some items are out of stock", .paymentDeclined: "the payment was declined",
            .customerRequest: "you asked us to cancel it", .timeout: "it could not be completed in time",
            .invalidOrder: "the order is not valid",
        ]
        #expect(NotificationRenderer.words(for: reason) == expected[reason])
        #expect(renderer.render(Self.cancelled(reason)).body.contains("because \(expected[reason]!)."))
    }

    @Test("a currency other than KRW is rendered with its code")
    func usdEvent() throws {
        let event = PaymentRefunded(
            orderID: "o-6", paymentID: "p-6", currency: try Currency("USD"), amount: 1_234, reason: .timeout)
        let notification = renderer.render(event)
        #expect(notification.body.contains("USD 12.34"))
        #expect(notification.currency == "USD")
    }

    @Test("the stored document: every field, null recipient and amount kept, reason only when there is one")
    func document() throws {
        let createdAt = Date(timeIntervalSince1970: 1_800_000_000)
        let handler = NotificationDocumentHandler(now: { createdAt })
        #expect(handler.collection == "notifications")
        let envelope = Envelope(messageID: "m-1", correlationID: "o-1", type: "order.confirmed", appID: "order-worker")
        let confirmed = try handler.document(for: .orderConfirmed(Self.confirmed()), envelope: envelope, attempts: 0)
        #expect(
            confirmed.keys == [
                "order_id", "event_type", "channel", "recipient", "subject", "body", "amount", "currency", "created_at",
                "event_message_id",
            ])
        #expect(confirmed["order_id"] == "o-1")
        #expect(confirmed["event_type"] == "order.confirmed")
        #expect(confirmed["channel"] == "email")
        #expect(confirmed["recipient"] == "kim@example.com")
        #expect(confirmed["amount"] == .int64(123_000))
        #expect(confirmed["currency"] == "KRW")
        #expect(confirmed["created_at"] == .date(createdAt))
        #expect(confirmed["event_message_id"] == "m-1")
        #expect(confirmed["_id"] == nil)

        let refund = PaymentRefunded(orderID: "o-4", paymentID: "p-4", currency: .krw, amount: 0, reason: .timeout)
        let refunded = try handler.document(for: .paymentRefunded(refund), envelope: envelope, attempts: 0)
        #expect(refunded["recipient"] == .null)
        #expect(refunded["channel"] == "none")
        #expect(refunded["reason"] == "timeout")
        #expect(refunded["amount"] == .int64(0))

        let rejected = OrderRejected(
            orderID: "o-3", customer: Self.customer, currency: .krw, message: "bad", violations: [])
        #expect(try handler.document(for: .orderRejected(rejected), envelope: envelope, attempts: 0)["amount"] == .null)
    }

    @Test("a type the worker is not bound to fails permanently as unexpected_type")
    func unexpectedType() {
        let handler = NotificationDocumentHandler()
        let envelope = Envelope(correlationID: "o-7", type: "order.cancel", appID: "upstream")
        let cancel = AnyMessage.cancelOrder(CancelOrder(orderID: "o-7", reason: "no longer needed"))
        #expect(NotificationRenderer().render(cancel) == nil)
        do {
            _ = try handler.document(for: cancel, envelope: envelope, attempts: 0)
            Issue.record("an order.cancel must not become a notification")
        } catch let failure as HandlingFailure {
            #expect(failure.failureClass == .permanent)
            #expect(failure.reason == "unexpected_type")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("the audit counts per order and event type and names the duplicates")
    func audit() {
        let documents: [Document] = [
            ["_id": "m-1", "order_id": "o-1", "event_type": "order.confirmed"],
            ["_id": "m-2", "order_id": "o-2", "event_type": "order.cancelled"],
            ["_id": "m-3", "order_id": "o-2", "event_type": "payment.refunded"],
            ["_id": "m-5", "order_id": "o-2", "event_type": "order.cancelled"],
            ["_id": "m-4", "order_id": "o-2", "event_type": "order.cancelled"],
            ["_id": "m-6", "event_type": "order.cancelled"],
        ]
        let report = NotificationsAudit.tally(documents)
        #expect(report.count(orderID: "o-1", eventType: .orderConfirmed) == 1)
        #expect(report.count(orderID: "o-2", eventType: .orderCancelled) == 3)
        #expect(report.count(orderID: "o-2", eventType: .paymentRefunded) == 1)
        #expect(report.count(orderID: "o-9", eventType: .orderRejected) == 0)
        #expect(report.total == 5)
        #expect(
            report.duplicates == [
                .init(
                    key: .init(orderID: "o-2", eventType: "order.cancelled"), count: 3,
                    messageIDs: ["m-2", "m-4", "m-5"])
            ])
        #expect(report.malformedIDs == ["m-6"])
        #expect(!report.isClean)
        #expect(NotificationsAudit.tally(documents.prefix(3)).isClean)
    }
}
