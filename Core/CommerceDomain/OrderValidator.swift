/// Validates an ``OrderRequest`` with a chain of independent checks.
///
/// **Every reason, not just the first**: all checks run in order and the report lists every
/// failure, so an upstream team fixes a bad command in one round trip. A check can stop the
/// chain (``OrderValidationCheck/Outcome/stopsChain``); the standard ``OrderValidationCheck/size``
/// check does so for an order with too many lines, and then the report holds that one reason
/// and names the check in ``ValidationReport/stoppedBy``.
///
/// ```swift
/// let validator = OrderValidator(configuration: .init(deliverableCountries: ["KR"]), coupons: catalog)
/// let report = validator.validate(request)
/// if report.isValid { let order = try validator.makeOrder(from: request) } else { /* order.rejected */ }
/// ```
public struct OrderValidator: Sendable {
    /// Limits and accepted sets.
    public let configuration: OrderValidationConfiguration
    /// The coupon catalog used to recognise codes.
    public let coupons: CouponCatalog
    /// The chain, run in order.
    public let checks: [OrderValidationCheck]

    /// Creates a validator; `checks` defaults to ``OrderValidationCheck/standard``.
    public init(
        configuration: OrderValidationConfiguration = OrderValidationConfiguration(),
        coupons: CouponCatalog = .empty,
        checks: [OrderValidationCheck] = OrderValidationCheck.standard
    ) {
        self.configuration = configuration
        self.coupons = coupons
        self.checks = checks
    }

    /// Runs the chain and reports every failure found (see the type's discussion).
    public func validate(_ request: OrderRequest) -> ValidationReport {
        let context = OrderValidationCheck.Context(configuration: configuration, coupons: coupons)
        var report = ValidationReport()
        for check in checks {
            let outcome = check.run(request, context: context)
            report.failures += outcome.failures
            if outcome.stopsChain {
                report.stoppedBy = check.name
                break
            }
        }
        return report
    }

    /// Validates `request` and builds the pending ``Order`` (lines of the same SKU merged).
    /// - Throws: ``DomainError/Code/invalidOrder`` with the report's summary as message and the
    ///   first failure's field; or a ``DomainError`` from ``Order`` (for example
    ///   ``DomainError/Code/conflictingItem``: the same SKU twice at different prices).
    public func makeOrder(from request: OrderRequest) throws(DomainError) -> Order {
        let report = validate(request)
        guard report.isValid else {
            throw DomainError(.invalidOrder, report.summary, field: report.failures.first?.field)
        }
        let currency = try Currency(request.currency)
        var items: [OrderItem] = []
        for line in request.lines {
            items.append(
                try OrderItem(
                    productID: line.productID, name: line.name, quantity: line.quantity,
                    unitPrice: Money(amount: line.unitPrice, currency: currency)))
        }
        return try Order(
            id: request.orderID, customerID: request.customerID, currency: currency,
            shippingAddress: request.shippingAddress, items: items)
    }
}
