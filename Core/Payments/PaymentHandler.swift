import CommerceMessages
import Postgres
import Resilience
import WorkerRuntime

/// The payment worker's handler: charges on `stock.reserved`, refunds on `order.cancelled`, and
/// keeps per order one `payments` row (`captured`, `declined`, `refunded`, the tombstone
/// `cancelled`, or `refund_due`) and a `payment_ledger` of what moved (docs/saga.md).
///
/// Three parts, each in one place: this file calls the card processor (outside the transaction);
/// what to write and emit for each (row status, answer) pair is decided by the pure
/// ``PaymentSagaState``; every statement on the worker's tables is ``PaymentStore``'s; and
/// `PaymentHandler+Transaction.swift` carries decisions out, for a message or for the refund
/// sweeper (docs/architecture.md, "The payment worker").
///
/// The card processor is called only in ``prepare(_:envelope:attempts:)``, outside the batch's
/// transaction and through a ``CircuitBreaker`` (docs/architecture.md, "Handlers"): a handler must
/// not hold its transaction open across the network. Every call carries an idempotency key named
/// after the order (`charge:<order_id>`, `refund:<order_id>`), because `prepare` runs again on
/// every redelivery and on every copy that receives a duplicate.
///
/// Refunds are decided outside the transaction too: `prepare` for `order.cancelled` asks the
/// processor whether the order's charge was captured (``PaymentGateway/lookup(idempotencyKey:)``)
/// and, if so, refunds it in full. The database cannot decide it there (no connection in
/// `prepare`), and the processor is the authority on what it captured; `handle` then records what
/// happened under the order's row lock.
///
/// An open circuit is an outage of the processor, not a failure of the message: `prepare` throws
/// ``DependencyOutage`` and the runtime pauses the worker until ``probeDependencies()`` gets an
/// answer through the half-open circuit (docs/architecture.md, "Outages").
///
/// A charge that a copy captured for an order that another copy had already cancelled (the two
/// raced outside their transactions) is recorded `refund_due`; ``periodic(context:)`` refunds such
/// rows, and looks the charges of recent tombstones up again, because a charge request can reach
/// the processor after a lookup found none (docs/saga.md, "Races between copies"). The processor, not this process's memory, says
/// whether an order was captured: a `stock.reserved` for an order known cancelled still looks its
/// charge up, because an earlier attempt of the same message may have captured it; and a capture
/// whose message turned out to be a duplicate (another delivery of it committed first) is
/// recorded all the same (``handleDuplicate(_:prepared:context:)``).
public struct PaymentHandler: MessageHandler {
    /// Contract messages: `stock.reserved` and `order.cancelled`.
    public typealias Message = AnyMessage
    /// What the gateway answered, outside the transaction.
    public typealias Prepared = PaymentPreparation

    let gateway: any PaymentGateway
    let breaker: CircuitBreaker
    private let cancelledOrders: CancelledOrders
    let appID: String
    /// How often ``periodic(context:)`` looks for `refund_due` rows and tombstones due for another
    /// lookup.
    public let periodicInterval: Duration?
    /// How long and how often a tombstone's charge is looked up again (`nil`: never).
    let tombstoneRecheck: TombstoneRecheck?

    /// The name of the processor in logs, `/health` and ``DependencyOutage``.
    public static let dependencyName = "payment gateway"

    /// A handler over `gateway`, guarded by `breaker`; `refundSweepInterval` is how often
    /// `refund_due` rows and tombstones due for a lookup are looked for (`nil`: never), and
    /// `tombstoneRecheck` how tombstones are looked up again (`nil`: never).
    public init(
        gateway: any PaymentGateway, breaker: CircuitBreaker = CircuitBreaker(),
        cancelledOrders: CancelledOrders = CancelledOrders(), appID: String = FleetCatalog.paymentWorker.name,
        refundSweepInterval: Duration? = .seconds(5), tombstoneRecheck: TombstoneRecheck? = TombstoneRecheck()
    ) {
        self.gateway = gateway
        self.breaker = breaker
        self.cancelledOrders = cancelledOrders
        self.appID = appID
        periodicInterval = refundSweepInterval
        self.tombstoneRecheck = tombstoneRecheck
    }

    /// Creates `payments` (one row per order) and `payment_ledger` (every capture and refund).
    public func migrate(_ database: PostgresConnection) throws {
        try PaymentStore.migrate(database)
    }

    // MARK: Outside the transaction

    /// Charges for `stock.reserved` (unless this process saw the order cancelled: then it only
    /// asks the processor whether the order was captured all the same); for `order.cancelled`,
    /// refunds the order's capture if the gateway holds one.
    public func prepare(_ message: AnyMessage, envelope: Envelope, attempts: Int) async throws -> PaymentPreparation {
        switch message {
        case .stockReserved(let reserved):
            let key = ChargeRequest.idempotencyKey(orderID: reserved.orderID)
            if cancelledOrders.contains(reserved.orderID) {
                // Charges nothing more; but an earlier attempt of this message (its transaction
                // lost a race and it is being retried), or another copy, may have captured before
                // the cancellation was known, and only the processor knows.
                let charged = try await callGateway { try await gateway.lookup(idempotencyKey: key) }
                guard case .captured(let paymentID)? = charged else { return .cancelledBeforeCharge }
                return .capturedAfterCancel(paymentID: paymentID)
            }
            let request = ChargeRequest(
                orderID: reserved.orderID, amount: reserved.amount, currency: reserved.currency,
                paymentToken: reserved.paymentToken, idempotencyKey: key)
            do {
                return .charge(try await callGateway { try await gateway.charge(request) })
            } catch let refusal as GatewayRefusal {
                // The processor refuses this charge request and always will (a token or an amount
                // outside its limits): the payment failed, and the saga releases the stock now.
                return .charge(.declined(code: refusal.type ?? "request_refused", message: refusal.message))
            }
        case .orderCancelled(let cancelled):
            // Noted before the lookup: a charge prepared from now on in this process is skipped.
            cancelledOrders.insert(cancelled.orderID)
            let key = ChargeRequest.idempotencyKey(orderID: cancelled.orderID)
            let charged = try await callGateway { try await gateway.lookup(idempotencyKey: key) }
            guard case .captured(let paymentID)? = charged else { return .nothingCaptured }
            // The order's total is what `stock.reserved` charged (docs/saga.md); the processor
            // refuses anything above the capture.
            let request = RefundRequest(
                paymentID: paymentID, amount: cancelled.amounts.total,
                idempotencyKey: RefundRequest.idempotencyKey(orderID: cancelled.orderID))
            return .refund(paymentID: paymentID, try await callGateway { try await gateway.refund(request) })
        default:
            return .none
        }
    }

    /// Calls the processor through the breaker. A processor that did not answer is a transient
    /// failure of this message (the runtime's retry tiers); an open circuit is an outage of the
    /// processor (the runtime pauses the worker until ``probeDependencies()`` succeeds).
    private func callGateway<T>(_ call: () async throws -> T) async throws -> T {
        do {
            return try await breaker.run(classifyError: Self.breakerOutcome) { try await call() }
        } catch {
            if let open = error as? CircuitBreakerError {
                throw DependencyOutage(dependency: Self.dependencyName, message: "\(open)")
            }
            if let unavailable = error as? GatewayError {
                throw HandlingFailure.transient(unavailable.failureReason, unavailable.message)
            }
            throw error
        }
    }

    /// What an error says about the processor: it answered and refused this one request
    /// (``GatewayRefusal``) or said the key's charge is still being worked on, which is no sign
    /// of trouble; or it did not answer (``GatewayError``)
    /// or refused us altogether (anything else an adapter throws, such as a rejected API key),
    /// which counts against it: a processor that refuses every call is as good as down.
    @Sendable static func breakerOutcome(_ error: any Error) -> CircuitBreaker.Outcome {
        if error is CancellationError { return .ignored }
        if error is GatewayRefusal || (error as? GatewayError)?.processorAnswered == true { return .success }
        return .failure
    }

    /// Succeeds once a call gets through the breaker to a processor that answers: while the
    /// circuit is open it throws at once; once it is half-open the probe is its trial call. The
    /// probe is an authenticated lookup (of a key never used), not ``PaymentGateway/checkHealth()``:
    /// a processor that is up but refuses our API key must keep the worker paused.
    public func probeDependencies() async throws {
        _ = try await breaker.run(classifyError: Self.breakerOutcome) {
            try await gateway.lookup(idempotencyKey: "health-probe")
        }
    }
}
