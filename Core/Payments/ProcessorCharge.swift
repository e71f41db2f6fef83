/// A charge as the card processor's books show it, with its refunds: what reconciliation reads
/// from the processor's charge listing (docs/saga.md, "Invariants", 6), never from the fleet's
/// own ledger.
public struct ProcessorCharge: Sendable, Hashable {
    /// One refund of the charge.
    public struct Refund: Sendable, Hashable {
        /// The processor's refund id (`re_…`).
        public var id: String
        /// Minor units.
        public var amount: Int

        /// A refund.
        public init(id: String, amount: Int) {
            self.id = id
            self.amount = amount
        }
    }

    /// The processor's charge id (`ch_…`).
    public var id: String
    /// The order the charge was made for, as the payment worker sent it (`order_reference`: the
    /// order id).
    public var orderReference: String
    /// Whether the money was captured (`false`: declined, nothing taken).
    public var isCaptured: Bool
    /// The amount charged, in minor units.
    public var amount: Int
    /// ISO 4217, upper case.
    public var currency: String
    /// Unix seconds.
    public var created: Int
    /// Every refund made of it.
    public var refunds: [Refund]

    /// A charge of the processor's books.
    public init(
        id: String, orderReference: String, isCaptured: Bool, amount: Int, currency: String = "KRW",
        created: Int = 0, refunds: [Refund] = []
    ) {
        self.id = id
        self.orderReference = orderReference
        self.isCaptured = isCaptured
        self.amount = amount
        self.currency = currency
        self.created = created
        self.refunds = refunds
    }

    /// What the processor keeps of this charge: the capture less its refunds; 0 for a decline.
    public var kept: Int { isCaptured ? amount - refunds.reduce(0) { $0 + $1.amount } : 0 }
}

/// The settlement side of a card processor: every charge it made, with its refunds, as a
/// processor's charge-listing or settlement endpoint gives them. What the saga audit reconciles
/// the order outcomes against (docs/saga.md, "Invariants", 6).
///
/// `PaymentsHTTP`'s `HTTPPaymentGateway` reads it from the processor's API
/// (`GET /v1/charges`, page by page). ``SandboxGateway`` does not offer it: its books are the
/// memory of the payment-worker process that holds it, which no other process can read.
public protocol ChargeListing: Sendable {
    /// Every charge created in `[createdFrom, createdBefore)` (Unix seconds; `nil`: unbounded),
    /// with its refunds, in the processor's order.
    /// - Throws: when the processor cannot be read (unreachable, key refused, an answer that is not
    ///   a listing), with what went wrong.
    func listCharges(createdFrom: Int?, createdBefore: Int?) async throws -> [ProcessorCharge]
}
