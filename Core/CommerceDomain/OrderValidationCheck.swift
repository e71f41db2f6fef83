/// One independent link of the order validation chain.
///
/// A check looks at the request (and the validator's configuration and coupon catalog) and
/// returns its failures; it may also stop the chain, so that later checks do not run (the
/// size check does this for oversized input). Build custom checks with
/// ``init(name:run:)``; the standard ones are static members (``size``, ``nonEmpty``, …).
public struct OrderValidationCheck: Sendable {
    /// What a check found.
    public struct Outcome: Sendable, Hashable {
        /// The failures found by this check (empty when it passed).
        public var failures: [ValidationFailure]
        /// Whether the checks after this one must not run.
        public var stopsChain: Bool

        /// Creates an outcome.
        public init(failures: [ValidationFailure] = [], stopsChain: Bool = false) {
            self.failures = failures
            self.stopsChain = stopsChain
        }

        /// The check passed.
        public static let passed = Outcome()
    }

    /// What a check may consult besides the request.
    public struct Context: Sendable {
        /// Limits and accepted sets.
        public var configuration: OrderValidationConfiguration
        /// The coupons that exist.
        public var coupons: CouponCatalog

        /// Creates a context.
        public init(configuration: OrderValidationConfiguration, coupons: CouponCatalog) {
            self.configuration = configuration
            self.coupons = coupons
        }
    }

    /// A short name for logs and ``ValidationReport/stoppedBy``.
    public let name: String
    private let body: @Sendable (OrderRequest, Context) -> Outcome

    /// Creates a check from a function.
    public init(name: String, run: @escaping @Sendable (OrderRequest, Context) -> Outcome) {
        self.name = name
        self.body = run
    }

    /// Runs the check.
    public func run(_ request: OrderRequest, context: Context) -> Outcome {
        body(request, context)
    }
}
