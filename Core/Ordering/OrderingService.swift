import CommerceDomain
import CommerceMessages
import Foundation

/// The order-worker's judgement of an `order.place` command: the validation chain, then pricing
/// (coupon, then membership, then shipping), as docs/saga.md's happy path begins. Pure: the
/// coupon catalog and the pricing figures are loaded by the executable (`config/pricing.json`,
/// `config/coupons.json`) and handed in.
public struct OrderingService: Sendable {
    /// What becomes of a command.
    public enum Evaluation: Hashable, Sendable {
        /// Valid and priced: store it `PENDING` and publish `order.placed`.
        case accepted(OrderPlaced)
        /// Invalid: store it `REJECTED` and publish `order.rejected` with every violation.
        case rejected(OrderRejected)
    }

    /// The validation chain.
    public let validator: OrderValidator
    /// The pricing rules.
    public let pricing: Pricing

    /// Creates the service from the pricing figures and the coupon catalog; validation limits
    /// default to the domain's (``OrderValidationConfiguration``), with the pricing currency as the
    /// only accepted one, since an order in another currency could not be priced.
    public init(
        pricing configuration: PricingConfiguration, coupons: CouponCatalog,
        validation: OrderValidationConfiguration? = nil
    ) {
        var limits = validation ?? OrderValidationConfiguration()
        if validation == nil { limits.acceptedCurrencies = [configuration.currency.code] }
        validator = OrderValidator(configuration: limits, coupons: coupons)
        pricing = Pricing(configuration: configuration, coupons: coupons)
    }

    /// Creates the service from the JSON documents of `config/pricing.json` and
    /// `config/coupons.json` (``PricingConfiguration/decode(from:)``, ``CouponCatalog/decode(from:)``).
    /// - Throws: `DomainError` ``DomainError/Code/invalidConfiguration`` naming what is wrong.
    public init(pricingDocument: Data, couponsDocument: Data) throws(DomainError) {
        self.init(
            pricing: try PricingConfiguration.decode(from: pricingDocument),
            coupons: try CouponCatalog.decode(from: couponsDocument))
    }

    /// How many coupons the catalog holds (for the start-up log).
    public var couponCount: Int { pricing.coupons.coupons.count }

    /// Validates and prices `command`.
    ///
    /// A rule the domain enforces beyond the validation chain (the same SKU twice at two prices,
    /// an amount that overflows while pricing) also rejects the command, as a violation named by
    /// the domain error's code, rather than dead-lettering it: the upstream has to fix the command
    /// either way; an amount that overflows is `amount_overflow` whichever step found it
    /// (``CommerceDomain/ValidationFailure/init(_:)``). `date` is when the command is priced, for
    /// the coupon's validity window.
    public func evaluate(_ command: PlaceOrder, at date: Date = Date()) -> Evaluation {
        let request = command.orderRequest
        let report = validator.validate(request)
        guard report.isValid else { return .rejected(OrderRejected(command: command, report: report)) }
        do {
            let order = try validator.makeOrder(from: request)
            let quote = try pricing.quote(
                for: order, couponCode: command.couponCode, membership: command.customer.membership, at: date)
            return .accepted(OrderPlaced(order: order, quote: quote, command: command))
        } catch {
            return .rejected(
                OrderRejected(command: command, report: ValidationReport(failures: [ValidationFailure(error)])))
        }
    }
}
