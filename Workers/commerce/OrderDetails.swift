import CommerceMessages
import Foundation
import Postgres

/// One order as the order-worker stored it (`orders` in its database): what `commerce order show`
/// prints above the saga's timeline. The payment token is left out: it is a credential of the
/// customer's card, not something an operator needs to read.
struct OrderDetails: Encodable {
    var orderId: String
    var status: String
    var reason: String?
    var customer: Customer?
    var currency: String?
    var lines: [OrderLine]
    var shippingAddress: ShippingAddress?
    var couponCode: String?
    var amounts: PriceBreakdown?
    var violations: [Violation]?
    var paymentId: String?
    /// ISO 8601, to the millisecond (in the JSON report).
    var createdAt: String
    var updatedAt: String
    /// The same times, for the text report.
    var created: Date
    var updated: Date

    private enum CodingKeys: String, CodingKey {
        case orderId, status, reason, customer, currency, lines, shippingAddress, couponCode, amounts, violations
        case paymentId, createdAt, updatedAt
    }

    /// The order `orderID`, or `nil` when the database has no such order.
    /// - Throws: `PostgresError` when the table cannot be read, or a decoding error when a column
    ///   does not hold what the order-worker writes.
    static func read(_ orderID: String, from database: PostgresConnection) throws -> OrderDetails? {
        let rows = try database.query(
            """
            select order_id, status, reason, customer::text as customer, currency, lines::text as lines,
                   address::text as address, coupon_code, amounts::text as amounts, violations::text as violations,
                   payment_id, (extract(epoch from created_at) * 1000000)::bigint as created_us,
                   (extract(epoch from updated_at) * 1000000)::bigint as updated_us
            from orders where order_id = $1
            """, [.text(orderID)]
        ).rows
        guard let row = rows.first else { return nil }
        func json<Value: Decodable>(_ type: Value.Type, _ column: String) throws -> Value? {
            guard let text = try row.text(column) else { return nil }
            return try JSONDecoder().decode(Value.self, from: Data(text.utf8))
        }
        let created = Date(timeIntervalSince1970: Double(try row.int("created_us")) / 1e6)
        let updated = Date(timeIntervalSince1970: Double(try row.int("updated_us")) / 1e6)
        return OrderDetails(
            orderId: try row.string("order_id"), status: try row.string("status"), reason: try row.text("reason"),
            customer: try json(Customer.self, "customer"), currency: try row.text("currency"),
            lines: try json([OrderLine].self, "lines") ?? [],
            shippingAddress: try json(ShippingAddress.self, "address"),
            couponCode: try row.text("coupon_code"), amounts: try json(PriceBreakdown.self, "amounts"),
            violations: try json([Violation].self, "violations"), paymentId: try row.text("payment_id"),
            createdAt: Timestamp.iso8601(created), updatedAt: Timestamp.iso8601(updated), created: created,
            updated: updated)
    }

    /// The readable form: status, customer, lines, the price breakdown and the address.
    func printText(now: Date) {
        let money = { (amount: Int) in Self.amount(amount, currency: currency) }
        print("Order \(orderId)  \(status)\(reason.map { " (\($0))" } ?? "")")
        if let customer {
            print(
                "  customer   \(customer.id) <\(customer.email)>\(customer.membership.map { ", \($0)" } ?? "")")
        }
        print(
            "  placed     \(createdAt) (\(RelativeTime.describe(created, now: now)))"
                + "   last change \(RelativeTime.describe(updated, now: now))")
        if let paymentId { print("  payment    \(paymentId)") }
        if let couponCode {
            let notApplied = amounts?.couponNotApplied.map { ", not applied: \($0.reason.rawValue)" } ?? ""
            print("  coupon     \(couponCode)\(notApplied)")
        }
        if let address = shippingAddress { print("  ship to    \(address.address.fullAddress)") }
        if !lines.isEmpty {
            var table = TextTable(
                ["SKU", "NAME", "QTY", "UNIT PRICE", "LINE TOTAL"], rightAligned: ["QTY", "UNIT PRICE", "LINE TOTAL"])
            for line in lines {
                table.append([
                    line.sku, line.name, "\(line.quantity)", money(line.unitPrice),
                    money(line.unitPrice * line.quantity),
                ])
            }
            table.print(indent: "  ")
        }
        if let amounts {
            print(
                "  subtotal \(money(amounts.subtotal))  − coupon \(money(amounts.couponDiscount))"
                    + "  − membership \(money(amounts.membershipDiscount))  + shipping \(money(amounts.shippingFee))"
                    + "  = total \(money(amounts.total)) \(currency ?? "")")
        }
        for violation in violations ?? [] {
            print(
                "  ✗ \(violation.code)\(violation.field.isEmpty ? "" : " (\(violation.field))"): \(violation.message)")
        }
    }

    /// `1,234,500`: minor units grouped by thousands (KRW has no minor unit; other currencies'
    /// amounts are shown in minor units as the contract carries them).
    static func amount(_ value: Int, currency: String?) -> String {
        let digits = String(abs(value))
        var grouped = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { grouped.append(",") }
            grouped.append(character)
        }
        return (value < 0 ? "-" : "") + grouped
    }
}
