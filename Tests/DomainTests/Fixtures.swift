import CommerceDomain
import CommerceMessages
import Foundation

/// Values shared by the tests.
enum Fixtures {
    /// The package root, found from this file's path (Tests/DomainTests/Fixtures.swift).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func krw(_ amount: Int) -> Money { try! Money(amount: amount, currency: .krw) }

    static let address = Address(
        street: "Teheran-ro 123", city: "Seoul", postalCode: "06234", country: "KR", detail: "5F")

    static func item(_ sku: String, quantity: Int = 1, price: Int) -> OrderItem {
        try! OrderItem(productID: sku, name: "Product \(sku)", quantity: quantity, unitPrice: krw(price))
    }

    static func order(_ items: [OrderItem] = [item("KB-001", quantity: 2, price: 45_000)]) -> Order {
        try! Order(id: "o-1", customerID: "c-1001", shippingAddress: address, items: items)
    }

    /// The coupon catalog of the examples (SUMMER20, FIXED5000, TIERED).
    static let catalog = try! CouponCatalog(coupons: [
        Coupon(code: "SUMMER20", strategy: .percentage(20)),
        Coupon(code: "FIXED5000", strategy: .fixed(krw(5_000))),
        Coupon(
            code: "TIERED",
            strategy: .tiered([
                DiscountTier(threshold: krw(50_000), percent: 5), DiscountTier(threshold: krw(100_000), percent: 10),
                DiscountTier(threshold: krw(200_000), percent: 15),
            ])),
    ])

    static let customer = Customer(id: "c-1001", email: "kim@example.com", membership: "gold")
    static let shippingAddress = ShippingAddress(
        street: "Teheran-ro 123", city: "Seoul", postalCode: "06234", country: "KR", detail: "5F")
    static let orderID = "5b0f8a3e-3c1d-4a8e-9d6b-2f1e7c9a0b11"
    static let amounts = PriceBreakdown(
        subtotal: 90_000, couponDiscount: 18_000, membershipDiscount: 7_200, shippingFee: 0, total: 64_800)
    /// Amounts of an order that named a coupon it did not reach the minimum of.
    static let amountsWithoutCoupon = PriceBreakdown(
        subtotal: 90_000, couponDiscount: 0, membershipDiscount: 9_000, shippingFee: 0, total: 81_000,
        couponNotApplied: CouponNotApplied(code: "BIG10000", reason: .belowMinimumSubtotal))
    static let lines = [OrderLine(sku: "KB-001", name: "Keyboard", quantity: 2, unitPrice: 45_000)]

    static let placeOrder = PlaceOrder(
        orderID: orderID, customer: customer, items: lines, shippingAddress: shippingAddress,
        paymentToken: "tok_approve", couponCode: "SUMMER20")

    /// One value of every message type, optional fields filled, in `MessageType.allCases` order.
    static let everyMessage: [AnyMessage] = [
        .placeOrder(placeOrder),
        .cancelOrder(CancelOrder(orderID: orderID, reason: "changed my mind")),
        .orderPlaced(
            OrderPlaced(
                orderID: orderID, customer: customer, currency: .krw, lines: lines, shippingAddress: shippingAddress,
                paymentToken: "tok_approve", couponCode: "SUMMER20", amounts: amounts)),
        .orderRejected(
            OrderRejected(
                orderID: orderID, customer: customer, currency: .krw, message: "invalid_quantity at items[0].quantity",
                violations: [Violation(code: "invalid_quantity", field: "items[0].quantity", message: "must be > 0")],
                amounts: amounts)),
        .orderConfirmed(
            OrderConfirmed(
                orderID: orderID, customer: customer, currency: .krw, lines: lines, shippingAddress: shippingAddress,
                amounts: amounts, paymentID: "pay-1")),
        .orderCancelled(
            OrderCancelled(
                orderID: orderID, customer: customer, currency: .krw, amounts: amountsWithoutCoupon,
                reason: .customerRequest,
                message: "changed my mind", previousStatus: .confirmed)),
        .stockReserved(
            StockReserved(
                orderID: orderID, customerID: "c-1001", lines: [StockLine(sku: "KB-001", quantity: 2)], currency: .krw,
                amount: 64_800, paymentToken: "tok_approve")),
        .stockRejected(
            StockRejected(
                orderID: orderID, message: "KB-001 short",
                shortages: [StockShortage(sku: "KB-001", requested: 2, available: 1)])),
        .stockReleased(
            StockReleased(orderID: orderID, lines: [StockLine(sku: "KB-001", quantity: 2)], reason: .paymentDeclined)),
        .paymentSucceeded(PaymentSucceeded(orderID: orderID, paymentID: "pay-1", currency: .krw, amount: 64_800)),
        .paymentFailed(
            PaymentFailed(
                orderID: orderID, currency: .krw, amount: 64_800, declineCode: "insufficient_funds",
                message: "insufficient funds")),
        .paymentRefunded(
            PaymentRefunded(
                orderID: orderID, paymentID: "pay-1", currency: .krw, amount: 64_800, reason: .customerRequest)),
    ]

    /// The `order.place` body of the first example in `docs/schemas/order.place.json`.
    static let designPlaceOrderBody = """
        { "order_id": "5b0f8a3e-3c1d-4a8e-9d6b-2f1e7c9a0b11",
          "customer": { "id": "c-1001", "email": "kim@example.com", "membership": "gold" },
          "currency": "KRW",
          "items": [ { "sku": "KB-001", "name": "Keyboard", "quantity": 2, "unit_price": 45000 } ],
          "shipping_address": { "street": "Teheran-ro 123", "city": "Seoul", "postal_code": "06234",
                                "country": "KR", "detail": "5F" },
          "payment_token": "tok_approve",
          "coupon_code": "SUMMER20" }
        """
}
