import CommerceDomain

/// `order.rejected`: the `order.place` command broke the contract or a business rule; terminal.
/// Nothing was reserved or charged.
///
/// `reason` is `invalid_order`; `violations` lists every failed rule (the validation chain
/// reports them all; a command that breaks the contract gets the contract's violations, see
/// ``InvalidPlaceOrder``) and `message` sums them up for people. `customer` and `currency` are
/// absent only when the command's own were unreadable; `amounts` is present only when the order
/// could still be priced; nothing is ever charged for a rejected order.
public struct OrderRejected: ContractMessage {
    /// `order.rejected`.
    public static let messageType = MessageType.orderRejected

    /// The order id from the command.
    public var orderID: String
    /// The customer from the command (for the notification); `nil` when the command's customer
    /// broke the contract.
    public var customer: Customer?
    /// The command's currency; `nil` when it broke the contract.
    public var currency: Currency?
    /// The machine-readable reason (`invalid_order`).
    public var reason: OrderOutcomeReason
    /// A human explanation.
    public var message: String
    /// Every failed rule.
    public var violations: [Violation]
    /// The price the order would have had, when it could be computed.
    public var amounts: PriceBreakdown?

    /// Creates the event.
    public init(
        orderID: String, customer: Customer?, currency: Currency?, reason: OrderOutcomeReason = .invalidOrder,
        message: String, violations: [Violation], amounts: PriceBreakdown? = nil
    ) {
        self.orderID = orderID
        self.customer = customer
        self.currency = currency
        self.reason = reason
        self.message = message
        self.violations = violations
        self.amounts = amounts
    }

    /// The rejection of `command` for the failures of `report`.
    public init(command: PlaceOrder, report: ValidationReport) {
        self.init(
            orderID: command.orderID, customer: command.customer, currency: command.currency,
            message: report.summary, violations: report.failures.map(Violation.init))
    }

    enum CodingKeys: String, CodingKey {
        case customer, currency, reason, message, violations, amounts
        case orderID = "order_id"
    }

    /// Decodes strictly (see ``ContractMessage``).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        orderID = try container.contractIdentifier(.orderID)
        customer = try container.decodeIfPresent(Customer.self, forKey: .customer)
        currency = try container.contractOptionalCurrency(.currency)
        reason = try container.contractEnum(OrderOutcomeReason.self, .reason)
        message = try container.contractString(.message)
        violations = try container.decode([Violation].self, forKey: .violations)
        amounts = try container.decodeIfPresent(PriceBreakdown.self, forKey: .amounts)
    }
}
