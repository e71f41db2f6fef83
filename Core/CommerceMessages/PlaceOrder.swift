import CommerceDomain

/// `order.place`: the upstream command that asks for an order. Its shape is public API,
/// fixed by `docs/schemas/order.place.json`:
/// ```json
/// { "order_id": "5b0f8a3e-…", "customer": { "id": "c-1001", "email": "kim@example.com", "membership": "gold" },
///   "currency": "KRW", "items": [ { "sku": "KB-001", "name": "Keyboard", "quantity": 2, "unit_price": 45000 } ],
///   "shipping_address": { "street": "Teheran-ro 123", "city": "Seoul", "postal_code": "06234", "country": "KR", "detail": "5F" },
///   "payment_token": "tok_approve", "coupon_code": "SUMMER20" }
/// ```
/// `order_id` is the upstream's idempotency key. Decoding checks shape only (types, presence,
/// non-negative prices, currency form, a non-empty `order_id`); business rules (empty order,
/// quantities, deliverable country, known coupon, sizes, the card processor's limits) are the
/// order validation's, whose failures become `order.rejected`. A command that fails decoding but
/// names its order is rejected too (``read(envelope:body:)``).
public struct PlaceOrder: ContractMessage {
    /// `order.place`.
    public static let messageType = MessageType.orderPlace

    /// The upstream-chosen order id (1…128 characters).
    public var orderID: String
    /// Who orders.
    public var customer: Customer
    /// The currency of every price (ISO 4217).
    public var currency: Currency
    /// The requested lines.
    public var items: [OrderLine]
    /// Where to ship.
    public var shippingAddress: ShippingAddress
    /// The token the payment gateway charges (`tok_approve` in the sandbox). The schema documents
    /// the card processor's limits (1…255 characters, no control character); decoding takes any
    /// string and the order validation checks them (``OrderValidationCheck/chargeable``), so the
    /// rejection names the rule, `invalid_payment_token`.
    public var paymentToken: String
    /// A coupon code, if any.
    public var couponCode: String?

    /// Creates the command.
    public init(
        orderID: String, customer: Customer, currency: Currency = .krw, items: [OrderLine],
        shippingAddress: ShippingAddress, paymentToken: String, couponCode: String? = nil
    ) {
        self.orderID = orderID
        self.customer = customer
        self.currency = currency
        self.items = items
        self.shippingAddress = shippingAddress
        self.paymentToken = paymentToken
        self.couponCode = couponCode
    }

    /// The domain's view of this command, for ``OrderValidator``.
    public var orderRequest: OrderRequest {
        OrderRequest(
            orderID: orderID, customerID: customer.id, customerEmail: customer.email, membership: customer.membership,
            currency: currency.code,
            lines: items.map {
                OrderRequest.Line(
                    productID: $0.sku, name: $0.name, quantity: $0.quantity, unitPrice: $0.unitPrice,
                    currency: currency.code)
            },
            shippingAddress: shippingAddress.address, couponCode: couponCode, paymentToken: paymentToken)
    }

    enum CodingKeys: String, CodingKey {
        case customer, currency, items
        case orderID = "order_id"
        case shippingAddress = "shipping_address"
        case paymentToken = "payment_token"
        case couponCode = "coupon_code"
    }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        orderID = try container.contractIdentifier(.orderID)
        customer = try container.decode(Customer.self, forKey: .customer)
        currency = try container.contractCurrency(.currency)
        items = try container.decode([OrderLine].self, forKey: .items)
        shippingAddress = try container.decode(ShippingAddress.self, forKey: .shippingAddress)
        paymentToken = try container.contractString(.paymentToken)
        couponCode = try container.contractOptionalString(.couponCode)
    }
}
