import CommerceDomain
import CommerceMessages
import CommerceTestKit
import Foundation
import Testing

/// Every validation rule that an upstream command can break, each published as an upstream would
/// and answered by the order-worker with `order.rejected` naming that rule (docs/saga.md,
/// "Compensations"). Two rules of the domain are met by the contract first: a negative unit price
/// is the contract's `negative_amount` (still answered with `order.rejected`, see
/// InvalidCommandCatalogueTests), and a line in another currency cannot be written (a line has no
/// currency of its own in `order.place`).
@Suite("Order rejections, one per rule")
struct OrderRejectionTests {

    /// A command that breaks `rule` and nothing else.
    static func command(breaking rule: String) -> PlaceOrder {
        var customer = Customer(id: "c-1001", email: "kim@example.com", membership: "gold")
        var currency = Currency.krw
        var items = [OrderLine(sku: "KB-001", name: "Keyboard", quantity: 1, unitPrice: 45_000)]
        var address = ShippingAddress(
            street: "Teheran-ro 123", city: "Seoul", postalCode: "06234", country: "KR", detail: "5F")
        var coupon: String?
        var token = "tok_approve"
        switch rule {
        case "empty_order": items = []
        case "invalid_quantity": items[0].quantity = 0
        case "quantity_too_large": items[0].quantity = 1_001
        case "unsupported_currency": currency = try! Currency("USD")
        case "undeliverable_address": address.country = "US"
        case "unknown_coupon": coupon = "NO-SUCH-COUPON"
        case "too_many_lines":
            items = (0..<101).map { OrderLine(sku: "SKU-\($0)", name: "Item \($0)", quantity: 1, unitPrice: 1_000) }
        case "field_too_long": address.street = String(repeating: "x", count: 201)
        case "invalid_email": customer.email = "not-an-email"
        case "missing_field": address.city = ""
        case "amount_overflow":
            items[0] = OrderLine(sku: "KB-001", name: "Keyboard", quantity: 3, unitPrice: Int.max / 2)
        case "amount_too_large":
            items[0] = OrderLine(sku: "KB-001", name: "Keyboard", quantity: 1_000, unitPrice: 1_000_000_001)
        case "invalid_payment_token": token = ""
        default: break
        }
        return PlaceOrder(
            orderID: UUID().uuidString.lowercased(), customer: customer, currency: currency, items: items,
            shippingAddress: address, paymentToken: token, couponCode: coupon)
    }

    static let rules = [
        "empty_order", "invalid_quantity", "quantity_too_large", "unsupported_currency", "undeliverable_address",
        "unknown_coupon", "too_many_lines", "field_too_long", "invalid_email", "missing_field", "amount_overflow",
        "amount_too_large", "invalid_payment_token",
    ]

    @Test("each rule broken alone gives order.rejected with that rule, and nothing is placed")
    func eachRule() throws {
        let fixture = try ServiceFixture(watching: [.orderPlaced, .orderRejected])
        try fixture.startWorker("order-worker")
        var expected: [String: String] = [:]
        for rule in Self.rules {
            let command = Self.command(breaking: rule)
            expected[command.orderID] = rule
            try fixture.publish(command)
        }
        let events = try fixture.events(Self.rules.count)
        #expect(events.count == Self.rules.count)
        for event in events {
            guard case .orderRejected(let rejected) = event, let rule = expected[rejected.orderID] else {
                Issue.record("expected only order.rejected for the test's orders, got \(event)")
                continue
            }
            #expect(rejected.reason == .invalidOrder, "\(rule)")
            #expect(rejected.violations.map(\.code).contains(rule), "\(rule): \(rejected.violations)")
        }
        #expect(try fixture.deadLetters(of: "order-worker").isEmpty)
    }
}
