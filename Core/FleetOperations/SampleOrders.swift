import CommerceMessages

/// The sample orders of `commerce place-order --sample` and `commerce-lab demo`: a cycle of eight
/// that walks every path of the saga (docs/saga.md). By position in the cycle: four orders that
/// should be confirmed, one declined card, one card that fails twice before it is charged, one
/// order for an item nobody stocks, one invalid order (quantity 0).
public enum SampleOrders {
    static let customer = Customer(id: "c-1001", email: "kim@example.com", membership: "gold")
    static let address = ShippingAddress(
        street: "Teheran-ro 123", city: "Seoul", postalCode: "06234", country: "KR", detail: "5F")

    /// The `index`-th sample: its kind, the status it should end in, and the command.
    public static func sample(_ index: Int) -> (String, String, PlaceOrder) {
        let id = Envelope.newMessageID()
        func order(_ lines: [OrderLine], token: String = "tok_approve", coupon: String? = nil) -> PlaceOrder {
            PlaceOrder(
                orderID: id, customer: customer, items: lines, shippingAddress: address, paymentToken: token,
                couponCode: coupon)
        }
        let keyboard = OrderLine(sku: "KB-001", name: "Keyboard", quantity: 1, unitPrice: 45_000)
        let mouse = OrderLine(sku: "MS-001", name: "Mouse", quantity: 2, unitPrice: 15_000)
        switch index % 8 {
        case 0: return ("approve", "CONFIRMED", order([keyboard, mouse], coupon: "SUMMER20"))
        case 1: return ("approve", "CONFIRMED", order([mouse]))
        case 2: return ("approve", "CONFIRMED", order([keyboard], coupon: "FIXED5000"))
        case 3:
            return (
                "approve", "CONFIRMED",
                order([OrderLine(sku: "CB-001", name: "USB-C Cable", quantity: 3, unitPrice: 9_000)])
            )
        case 4: return ("declined card", "CANCELLED", order([keyboard], token: "tok_decline"))
        case 5: return ("card fails twice", "CONFIRMED", order([mouse], token: "tok_transient_2"))
        case 6:
            return (
                "out of stock", "CANCELLED",
                order([OrderLine(sku: "ZZ-404", name: "Unobtainium", quantity: 1, unitPrice: 99_000)])
            )
        default:
            return (
                "invalid", "REJECTED",
                order([OrderLine(sku: "KB-001", name: "Keyboard", quantity: 0, unitPrice: 45_000)])
            )
        }
    }
}
