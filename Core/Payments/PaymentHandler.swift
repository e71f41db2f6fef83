import CommerceDomain
import CommerceMessages
import CommerceSupport
import Postgres
import Resilience
import WorkerRuntime

/// The payment worker's handler: charges on `stock.reserved`, refunds on `order.cancelled`, and
/// keeps per order one `payments` row (`captured`, `declined`, `refunded`, the tombstone
/// `cancelled`, or `refund_due`) and a `payment_ledger` of what moved (docs/saga.md).
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
/// rows (docs/saga.md, "Races between copies"). The processor, not this process's memory, says
/// whether an order was captured: a `stock.reserved` for an order known cancelled still looks its
/// charge up, because an earlier attempt of the same message may have captured it; and a capture
/// whose message turned out to be a duplicate (another delivery of it committed first) is
/// recorded all the same (``handleDuplicate(_:prepared:context:)``).
public struct PaymentHandler: MessageHandler {
    /// Contract messages: `stock.reserved` and `order.cancelled`.
    public typealias Message = AnyMessage
    /// What the gateway answered, outside the transaction.
    public typealias Prepared = PaymentPreparation

    private let gateway: any PaymentGateway
    private let breaker: CircuitBreaker
    private let cancelledOrders: CancelledOrders
    private let appID: String
    /// How often ``periodic(context:)`` looks for `refund_due` rows.
    public let periodicInterval: Duration?

    /// The name of the processor in logs, `/health` and ``DependencyOutage``.
    public static let dependencyName = "payment gateway"

    /// A handler over `gateway`, guarded by `breaker`; `refundSweepInterval` is how often
    /// `refund_due` rows are looked for (`nil`: never).
    public init(
        gateway: any PaymentGateway, breaker: CircuitBreaker = CircuitBreaker(),
        cancelledOrders: CancelledOrders = CancelledOrders(), appID: String = FleetCatalog.paymentWorker.name,
        refundSweepInterval: Duration? = .seconds(5)
    ) {
        self.gateway = gateway
        self.breaker = breaker
        self.cancelledOrders = cancelledOrders
        self.appID = appID
        periodicInterval = refundSweepInterval
    }

    /// Creates `payments` (one row per order) and `payment_ledger` (every capture and refund).
    public func migrate(_ database: PostgresConnection) throws {
        try database.executeScript(
            """
            create table if not exists payments (
                order_id text primary key,
                status text not null,
                payment_id text,
                amount bigint not null default 0,
                currency text not null default 'KRW',
                decline_code text,
                updated_at timestamptz not null default now()
            );
            create table if not exists payment_ledger (
                id bigserial primary key,
                order_id text not null,
                kind text not null check (kind in ('capture', 'refund')),
                amount bigint not null,
                payment_id text,
                created_at timestamptz not null default now()
            );
            create index if not exists payment_ledger_order on payment_ledger (order_id);
            alter table payments add column if not exists cancel_reason text;
            create index if not exists payments_refund_due on payments (updated_at) where status = 'refund_due';
            """)
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

    // MARK: Refunds owed

    /// Refunds up to 32 `refund_due` rows (charges captured for orders already cancelled; see the
    /// type's documentation) and returns their `payment.refunded` events.
    ///
    /// The rows are locked `for update skip locked`, so copies never refund the same order at
    /// once, and the refund call is made with that lock held: an exception to "no network inside
    /// a transaction", accepted because such rows are rare (a race between copies) and the call is
    /// idempotent by `refund:<order_id>`, so a crash between the refund and the commit only
    /// means the next sweep gets the same answer again. Skips the sweep while the circuit is open.
    public func periodic(context: PeriodicContext) throws -> [OutgoingMessage] {
        let due = try context.database.query(
            """
            select order_id, payment_id, amount, currency, cancel_reason from payments
            where status = 'refund_due' order by updated_at limit 32 for update skip locked
            """)
        guard !due.rows.isEmpty, breaker.state != .open else { return [] }
        var events: [OutgoingMessage] = []
        for row in due.rows {
            let orderID = try row.string("order_id")
            guard let paymentID = try row.text("payment_id") else { continue }
            let amount = Int(try row.int("amount"))
            let request = RefundRequest(
                paymentID: paymentID, amount: amount, idempotencyKey: RefundRequest.idempotencyKey(orderID: orderID))
            let result: RefundResult
            do {
                result = try runBlocking { [gateway, breaker] in
                    try await breaker.run(classifyError: Self.breakerOutcome) { try await gateway.refund(request) }
                }
            } catch {
                context.logger.warning(
                    "refund owed not made yet; the next sweep tries again",
                    metadata: ["order_id": "\(orderID)", "error": "\(error)"])
                break
            }
            switch result {
            case .refunded(_, let refunded):
                try context.database.enqueue(
                    "update payments set status = 'refunded', updated_at = now() where order_id = $1",
                    [.text(orderID)])
                try appendLedger(
                    .refund, orderID: orderID, amount: refunded, paymentID: paymentID, in: context.database)
                let reason =
                    try row.text("cancel_reason").flatMap(OrderOutcomeReason.init(rawValue:)) ?? .customerRequest
                let currency = (try? Currency(try row.string("currency"))) ?? .krw
                let event = PaymentRefunded(
                    orderID: orderID, paymentID: paymentID, currency: currency, amount: refunded, reason: reason)
                events.append(OutgoingMessage(envelope: event.envelope(appID: appID), body: event.encodedBody()))
                context.logger.info(
                    "refunded a charge captured after cancellation", metadata: ["order_id": "\(orderID)"])
            case .refused(let code, let explanation):
                // The same key gets the same answer: a person must look (the audit reports the order).
                context.logger.error(
                    "the processor refused a refund owed",
                    metadata: ["order_id": "\(orderID)", "code": "\(code)", "message": "\(explanation)"])
                try context.database.enqueue(
                    "update payments set updated_at = now() where order_id = $1", [.text(orderID)])
            }
        }
        return events
    }

    // MARK: Inside the transaction

    /// Records what `prepare` did under the order's row lock and returns the saga's event, if any.
    public func handle(_ message: AnyMessage, prepared: PaymentPreparation, context: HandlerContext) throws
        -> [OutgoingMessage]
    {
        switch message {
        case .stockReserved(let reserved): try handle(reserved, prepared: prepared, context: context)
        case .orderCancelled(let cancelled): try handle(cancelled, prepared: prepared, context: context)
        default:
            throw HandlingFailure.permanent(
                "unexpected_type", "the payment worker does not handle '\(message.messageType.rawValue)'")
        }
    }

    private func handle(_ reserved: StockReserved, prepared: PaymentPreparation, context: HandlerContext) throws
        -> [OutgoingMessage]
    {
        let record = try PaymentRecord.lock(reserved.orderID, in: context.database)
        var payment = Payment(orderID: reserved.orderID, amount: reserved.amount, currency: reserved.currency)
        switch prepared {
        case .charge(.captured(let paymentID)), .capturedAfterCancel(let paymentID): payment.paymentID = paymentID
        case .charge(.declined(let code, let explanation)): payment.decline = (code, explanation)
        default: break
        }
        return try carryOut(
            PaymentSagaState.reserved(record: record?.status, prepared: prepared), for: payment, context: context)
    }

    /// A `stock.reserved` whose other delivery committed first, after this one's `prepare` had
    /// captured (two copies got the message under one id, as an outbox republish does): the
    /// capture is recorded as ``handle(_:prepared:context:)`` would (the order's row is there, so
    /// only a capture for a cancelled order changes anything: `refund_due`). Every other
    /// duplicate needs nothing: a lookup, a decline and a refund leave the processor's books as
    /// the committed delivery recorded them (a refund is keyed per order, so both deliveries got
    /// the same one).
    public func handleDuplicate(_ message: AnyMessage, prepared: PaymentPreparation, context: HandlerContext) throws
        -> [OutgoingMessage]
    {
        switch (message, prepared) {
        case (.stockReserved(let reserved), .charge(.captured)), (.stockReserved(let reserved), .capturedAfterCancel):
            return try handle(reserved, prepared: prepared, context: context)
        default:
            return []
        }
    }

    private func handle(_ cancelled: OrderCancelled, prepared: PaymentPreparation, context: HandlerContext) throws
        -> [OutgoingMessage]
    {
        let record = try PaymentRecord.lock(cancelled.orderID, in: context.database)
        var payment = Payment(
            orderID: cancelled.orderID, amount: cancelled.amounts.total,
            currency: record?.currency ?? cancelled.currency)
        payment.cancelReason = cancelled.reason
        if case .refund(let paymentID, .refunded(_, let amount)) = prepared {
            payment.paymentID = paymentID
            payment.amount = amount
        }
        return try carryOut(
            PaymentSagaState.cancelled(record: record?.status, prepared: prepared), for: payment, context: context)
    }

    /// What the steps of a decision write and emit, taken from the message and its preparation.
    private struct Payment {
        var orderID: String
        var amount: Int
        var currency: Currency
        var paymentID: String?
        var decline: (code: String, message: String)?
        var cancelReason: OrderOutcomeReason?
    }

    /// Carries out `decision` in the batch's transaction: its writes, then its event.
    private func carryOut(_ decision: PaymentSagaState.Decision, for payment: Payment, context: HandlerContext) throws
        -> [OutgoingMessage]
    {
        guard case .steps(let steps) = decision else {
            if case .fail(let failureClass, let reason, let message) = decision {
                throw HandlingFailure(failureClass, reason: reason, message: message)
            }
            return []
        }
        let database = context.database
        let orderID = payment.orderID
        var emitted: [OutgoingMessage] = []
        for step in steps {
            switch step {
            case .insert(let status):
                var record = PaymentRecord(
                    status: status, paymentID: status == .cancelled || status == .declined ? nil : payment.paymentID,
                    amount: status == .cancelled ? 0 : payment.amount, currency: payment.currency)
                if status == .declined { record.declineCode = payment.decline?.code }
                try insert(
                    record, orderID: orderID, cancelReason: status == .cancelled ? payment.cancelReason : nil,
                    in: database)
            case .setStatus(.refundDue):
                try database.enqueue(
                    """
                    update payments set status = 'refund_due', payment_id = $2, amount = $3, currency = $4,
                        updated_at = now()
                    where order_id = $1
                    """,
                    [
                        .text(orderID), payment.paymentID.map { .text($0) } ?? .null, .int(Int64(payment.amount)),
                        .text(payment.currency.code),
                    ])
            case .setStatus(let status):
                try database.enqueue(
                    "update payments set status = $2, updated_at = now() where order_id = $1",
                    [.text(orderID), .text(status.rawValue)])
            case .noteCancelReason:
                try database.enqueue(
                    "update payments set cancel_reason = $2, updated_at = now() where order_id = $1",
                    [.text(orderID), payment.cancelReason.map { .text($0.rawValue) } ?? .null])
            case .ledger(let kind):
                try appendLedger(
                    kind, orderID: orderID, amount: payment.amount, paymentID: payment.paymentID, in: database)
            case .warnRefundDue:
                context.logger.warning(
                    "captured a charge for a cancelled order: recorded as refund_due",
                    metadata: ["payment_id": "\(payment.paymentID ?? "-")"])
            case .emitSucceeded:
                emitted.append(
                    context.emit(
                        PaymentSucceeded(
                            orderID: orderID, paymentID: payment.paymentID ?? "", currency: payment.currency,
                            amount: payment.amount)))
            case .emitFailed:
                emitted.append(
                    context.emit(
                        PaymentFailed(
                            orderID: orderID, currency: payment.currency, amount: payment.amount,
                            declineCode: payment.decline?.code ?? "declined",
                            message: payment.decline?.message ?? "The card was declined.")))
            case .emitRefunded:
                emitted.append(
                    context.emit(
                        PaymentRefunded(
                            orderID: orderID, paymentID: payment.paymentID ?? "", currency: payment.currency,
                            amount: payment.amount, reason: payment.cancelReason ?? .customerRequest)))
            }
        }
        return emitted
    }

    /// Inserts the order's row. The row was absent under `select … for update`, which locks
    /// nothing: a second copy may have inserted it meanwhile, and then this message is tried
    /// again, to find that row.
    private func insert(
        _ record: PaymentRecord, orderID: String, cancelReason: OrderOutcomeReason? = nil, in database: HandlerDatabase
    ) throws {
        let inserted = try database.query(
            """
            insert into payments (order_id, status, payment_id, amount, currency, decline_code, cancel_reason)
            values ($1, $2, $3, $4, $5, $6, $7) on conflict (order_id) do nothing
            """,
            [
                .text(orderID), .text(record.status.rawValue), record.paymentID.map { .text($0) } ?? .null,
                .int(Int64(record.amount)), .text(record.currency.code), record.declineCode.map { .text($0) } ?? .null,
                cancelReason.map { .text($0.rawValue) } ?? .null,
            ])
        guard inserted.affectedRows == 1 else {
            throw HandlingFailure.transient("payment_raced", "another message recorded order \(orderID) first")
        }
    }

    private func appendLedger(
        _ kind: PaymentSagaState.LedgerKind, orderID: String, amount: Int, paymentID: String?,
        in database: HandlerDatabase
    ) throws {
        try database.enqueue(
            "insert into payment_ledger (order_id, kind, amount, payment_id) values ($1, $2, $3, $4)",
            [.text(orderID), .text(kind.rawValue), .int(Int64(amount)), paymentID.map { .text($0) } ?? .null])
    }
}
