/// An order as asked for, before any rule has been checked: the input of ``OrderValidator``.
///
/// Deliberately loose (plain `Int` and `String` fields) so that every invalid input can be
/// represented and reported. `CommerceMessages` builds one from an `order.place` command.
/// Field names in validation reports use the contract's paths (`items[0].quantity`).
public struct OrderRequest: Hashable, Sendable {
    /// One requested line.
    public struct Line: Hashable, Sendable {
        /// The product id (SKU).
        public var productID: String
        /// The product's display name.
        public var name: String
        /// Requested units; must be in 1...maximum to pass validation.
        public var quantity: Int
        /// Unit price in minor units of ``currency``.
        public var unitPrice: Int
        /// The currency of ``unitPrice`` (the command's currency for `order.place`).
        public var currency: String

        /// Creates a line.
        public init(productID: String, name: String, quantity: Int, unitPrice: Int, currency: String = "KRW") {
            self.productID = productID
            self.name = name
            self.quantity = quantity
            self.unitPrice = unitPrice
            self.currency = currency
        }
    }

    /// The upstream-chosen order id.
    public var orderID: String
    /// The customer id.
    public var customerID: String
    /// Where notifications go.
    public var customerEmail: String
    /// The membership level, if any (`gold`).
    public var membership: String?
    /// The order's currency code.
    public var currency: String
    /// The requested lines.
    public var lines: [Line]
    /// Where to ship.
    public var shippingAddress: Address
    /// The coupon code typed by the customer, if any.
    public var couponCode: String?
    /// The token the card processor is to charge; `nil` for a request that will not be charged
    /// (a price quote), whose token ``OrderValidationCheck/chargeable`` then does not check.
    public var paymentToken: String?

    /// Creates a request.
    public init(
        orderID: String, customerID: String, customerEmail: String, membership: String? = nil,
        currency: String = "KRW", lines: [Line], shippingAddress: Address, couponCode: String? = nil,
        paymentToken: String? = nil
    ) {
        self.orderID = orderID
        self.customerID = customerID
        self.customerEmail = customerEmail
        self.membership = membership
        self.currency = currency
        self.lines = lines
        self.shippingAddress = shippingAddress
        self.couponCode = couponCode
        self.paymentToken = paymentToken
    }
}
