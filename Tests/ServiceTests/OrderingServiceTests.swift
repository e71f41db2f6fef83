import CommerceDomain
import CommerceMessages
import Foundation
import Testing

@testable import Ordering

/// Validation and pricing of `order.place` with the repository's configuration files.
@Suite("Ordering: validating and pricing order.place")
struct OrderingServiceTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func service() throws -> OrderingService {
        let pricing = try PricingConfiguration.decode(
            from: try Data(contentsOf: root.appendingPathComponent("config/pricing.json")))
        let coupons = try CouponCatalog.decode(
            from: try Data(contentsOf: root.appendingPathComponent("config/coupons.json")))
        return OrderingService(pricing: pricing, coupons: coupons)
    }

    static func command(
        items: [OrderLine] = [OrderLine(sku: "KB-001", name: "Keyboard", quantity: 2, unitPrice: 45_000)],
        coupon: String? = "SUMMER20", membership: String? = "gold"
    ) -> PlaceOrder {
        PlaceOrder(
            orderID: "o-1", customer: Customer(id: "c-1001", email: "kim@example.com", membership: membership),
            items: items,
            shippingAddress: ShippingAddress(street: "Teheran-ro 123", city: "Seoul", postalCode: "06234"),
            paymentToken: "tok_approve", couponCode: coupon)
    }

    @Test("coupon, then membership, then shipping")
    func priced() throws {
        guard case .accepted(let placed) = try Self.service().evaluate(Self.command()) else {
            Issue.record("expected the order to be accepted")
            return
        }
        // 90,000 − 20 % = 72,000; − 10 % gold = 64,800; free shipping from 50,000.
        #expect(
            placed.amounts
                == PriceBreakdown(
                    subtotal: 90_000, couponDiscount: 18_000, membershipDiscount: 7_200, shippingFee: 0, total: 64_800))
        #expect(placed.couponCode == "SUMMER20")
        #expect(placed.lines == [OrderLine(sku: "KB-001", name: "Keyboard", quantity: 2, unitPrice: 45_000)])
    }

    @Test("below the free-shipping threshold the fee is added")
    func shipping() throws {
        let command = Self.command(
            items: [OrderLine(sku: "MS-001", name: "Mouse", quantity: 1, unitPrice: 20_000)], coupon: nil,
            membership: nil)
        guard case .accepted(let placed) = try Self.service().evaluate(command) else {
            Issue.record("expected the order to be accepted")
            return
        }
        #expect(placed.amounts.shippingFee == 3_000)
        #expect(placed.amounts.total == 23_000)
    }

    @Test("an empty order with an unknown coupon is rejected with both violations")
    func rejected() throws {
        guard case .rejected(let rejected) = try Self.service().evaluate(Self.command(items: [], coupon: "NOPE"))
        else {
            Issue.record("expected the order to be rejected")
            return
        }
        #expect(Set(rejected.violations.map(\.code)) == ["empty_order", "unknown_coupon"])
        #expect(rejected.reason == .invalidOrder)
    }

    @Test("the same SKU at two prices is rejected, not dead-lettered")
    func conflictingLines() throws {
        let command = Self.command(items: [
            OrderLine(sku: "KB-001", name: "Keyboard", quantity: 1, unitPrice: 45_000),
            OrderLine(sku: "KB-001", name: "Keyboard", quantity: 1, unitPrice: 40_000),
        ])
        guard case .rejected(let rejected) = try Self.service().evaluate(command) else {
            Issue.record("expected the order to be rejected")
            return
        }
        #expect(rejected.violations.count == 1)
    }

    @Test("an amount that overflows while pricing is the same violation as one found by validation")
    func pricingOverflowHasTheValidationCode() throws {
        // The card processor's limit (amount_too_large above 10¹² minor units) now stops such
        // orders in validation, before pricing, so pricing's overflow is reached through the
        // pricing rules directly: a subtotal that fits in Int, 20 % of which does not
        // (Money.percentage multiplies before it divides).
        let service = try Self.service()
        let subtotal = try Money(amount: Int.max / 10, currency: .krw)
        do {
            _ = try service.pricing.quote(subtotal: subtotal, couponCode: "SUMMER20")
            Issue.record("expected pricing to overflow")
        } catch {
            let failure = ValidationFailure(error)
            #expect(failure.code.name == ValidationFailure.Code.amountOverflow.name)
            #expect(failure.field == "items")
        }
        // Validation's own finding, for comparison: the same code and field.
        let doubled = OrderLine(sku: "KB-001", name: "Keyboard", quantity: 2, unitPrice: Int.max / 2 + 1)
        guard case .rejected(let byValidation) = service.evaluate(Self.command(items: [doubled])) else {
            Issue.record("expected the order to be rejected")
            return
        }
        #expect(byValidation.violations.map(\.code).contains(ValidationFailure.Code.amountOverflow.name))
        #expect(
            byValidation.violations.first { $0.code == ValidationFailure.Code.amountOverflow.name }?.field == "items")
    }

    static func date(_ text: String) -> Date {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)!
    }

    @Test("a known coupon below its minimum is not applied: the order is placed and says why")
    func couponBelowItsMinimum() throws {
        // config/coupons.json: BIG10000 needs a subtotal of 100,000; this one is 90,000.
        guard case .accepted(let placed) = try Self.service().evaluate(Self.command(coupon: "big10000")) else {
            Issue.record("expected the order to be accepted")
            return
        }
        #expect(
            placed.amounts
                == PriceBreakdown(
                    subtotal: 90_000, couponDiscount: 0, membershipDiscount: 9_000, shippingFee: 0, total: 81_000,
                    couponNotApplied: CouponNotApplied(code: "BIG10000", reason: .belowMinimumSubtotal)))
        #expect(placed.couponCode == nil)
    }

    @Test(
        "a coupon with a window applies inside it only, at the time the command is priced",
        arguments: [
            ("2026-12-31T23:59:59+09:00", Coupon.NotAppliedReason?.some(.notYetValid)),
            ("2027-01-15T12:00:00+09:00", nil), ("2027-02-01T00:00:00+09:00", .expired),
        ])
    func couponWindow(example: (String, Coupon.NotAppliedReason?)) throws {
        // config/coupons.json: NEWYEAR15, 15 % in January 2027 (Korean time).
        let (when, reason) = example
        guard
            case .accepted(let placed) = try Self.service().evaluate(
                Self.command(coupon: "NEWYEAR15"), at: Self.date(when))
        else {
            Issue.record("expected the order to be accepted")
            return
        }
        #expect(placed.amounts.couponNotApplied?.reason == reason, "\(when)")
        #expect(placed.amounts.couponDiscount == (reason == nil ? 13_500 : 0), "\(when)")
        #expect(placed.couponCode == (reason == nil ? "NEWYEAR15" : nil))
    }

    @Test("the cancellation message comes from its cause")
    func cancellationMessage() {
        #expect(
            OrderHandler.cancellationMessage(.cancelOrder(CancelOrder(orderID: "o", reason: "")))
                == "cancelled at the customer's request")
        #expect(OrderHandler.cancellationMessage(.cancelOrder(CancelOrder(orderID: "o", reason: "late"))) == "late")
        #expect(
            OrderHandler.cancellationMessage(
                .stockRejected(StockRejected(orderID: "o", message: "KB-001 short", shortages: []))) == "KB-001 short")
    }

    @Test("sweeper deadlines in milliseconds")
    func milliseconds() {
        #expect(OrderSweeper.milliseconds(.seconds(600)) == 600_000)
        #expect(OrderSweeper.milliseconds(.milliseconds(1_500)) == 1_500)
    }
}
