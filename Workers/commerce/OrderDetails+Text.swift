import CommandLineSupport
import FleetOperations
import Foundation

/// The readable form of ``FleetOperations/OrderDetails``, for `commerce order show` and `order list`.
extension OrderDetails {
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
