import CommerceDomain
import CommerceMessages
import CommerceSupport
import Logging
import WorkerRuntime

// Inside the transaction: what `prepare` learnt is recorded under the order's row lock. Each
// message (and each refund the sweeper makes) is turned into a ``PaymentSagaState`` decision,
// which ``PaymentHandler/carryOut(_:for:in:)`` writes through ``PaymentStore`` and emits.
extension PaymentHandler {
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

    private func handle(_ reserved: StockReserved, prepared: PaymentPreparation, context: HandlerContext) throws
        -> [OutgoingMessage]
    {
        let store = PaymentStore(database: context.database)
        let record = try store.lock(reserved.orderID)
        var payment = Payment(orderID: reserved.orderID, amount: reserved.amount, currency: reserved.currency)
        switch prepared {
        case .charge(.captured(let paymentID)), .capturedAfterCancel(let paymentID): payment.paymentID = paymentID
        case .charge(.declined(let code, let explanation)): payment.decline = (code, explanation)
        default: break
        }
        return try carryOut(
            PaymentSagaState.reserved(record: record?.status, prepared: prepared), for: payment,
            in: .message(context, store))
    }

    private func handle(_ cancelled: OrderCancelled, prepared: PaymentPreparation, context: HandlerContext) throws
        -> [OutgoingMessage]
    {
        let store = PaymentStore(database: context.database)
        let record = try store.lock(cancelled.orderID)
        var payment = Payment(
            orderID: cancelled.orderID, amount: cancelled.amounts.total,
            currency: record?.currency ?? cancelled.currency)
        payment.cancelReason = cancelled.reason
        if case .refund(let paymentID, .refunded(_, let amount)) = prepared {
            payment.paymentID = paymentID
            payment.amount = amount
        }
        return try carryOut(
            PaymentSagaState.cancelled(record: record?.status, prepared: prepared), for: payment,
            in: .message(context, store))
    }

    // MARK: Refunds owed

    /// The sweeper, every ``periodicInterval``: refunds what is owed back, then looks the charges of
    /// tombstones due for it up again. Skipped while the circuit is open.
    public func periodic(context: PeriodicContext) throws -> [OutgoingMessage] {
        guard breaker.state != .open else { return [] }
        let store = PaymentStore(database: context.database)
        var events = try refundOwed(store, context: context)
        if let tombstoneRecheck {
            events += try recheckTombstones(store, recheck: tombstoneRecheck, context: context)
        }
        return events
    }

    /// Refunds up to 32 `refund_due` rows (charges captured for orders already cancelled; see the
    /// type's documentation) and returns their `payment.refunded` events.
    ///
    /// The rows are locked `for update skip locked`, so copies never refund the same order at
    /// once, and the refund call is made with that lock held: an exception to "no network inside
    /// a transaction", accepted because such rows are rare (a race between copies) and the call is
    /// idempotent by `refund:<order_id>`, so a crash between the refund and the commit only
    /// means the next sweep gets the same answer again. What the processor's answer writes and
    /// emits is ``PaymentSagaState/refundOwed(record:refund:)``'s decision, carried out like a
    /// message's.
    private func refundOwed(_ store: PaymentStore, context: PeriodicContext) throws -> [OutgoingMessage] {
        let due = try store.lockRefundsOwed(limit: 32)
        var events: [OutgoingMessage] = []
        for owed in due {
            guard let paymentID = owed.paymentID else { continue }
            let request = RefundRequest(
                paymentID: paymentID, amount: owed.amount,
                idempotencyKey: RefundRequest.idempotencyKey(orderID: owed.orderID))
            let result: RefundResult
            do {
                result = try runBlocking { [gateway, breaker] in
                    try await breaker.run(classifyError: Self.breakerOutcome) { try await gateway.refund(request) }
                }
            } catch {
                context.logger.warning(
                    "refund owed not made yet; the next sweep tries again",
                    metadata: ["order_id": "\(owed.orderID)", "error": "\(error)"])
                break
            }
            var payment = Payment(orderID: owed.orderID, amount: owed.amount, currency: owed.currency)
            payment.paymentID = paymentID
            payment.cancelReason = owed.cancelReason
            switch result {
            case .refunded(_, let refunded): payment.amount = refunded
            case .refused(let code, let explanation): payment.refusal = (code, explanation)
            }
            events += try carryOut(
                PaymentSagaState.refundOwed(record: .refundDue, refund: result), for: payment,
                in: .sweep(context, store, appID: appID))
        }
        return events
    }

    /// Looks up the charge key of up to 32 tombstones due for it (``TombstoneRecheck``) and records
    /// each as ``PaymentSagaState/tombstoneRechecked(record:found:)`` decides: a capture found is
    /// owed back (`refund_due`, refunded by the next sweep), no capture schedules the next lookup.
    /// The lookups are made with the rows locked, as the refunds are, and for the same reasons.
    private func recheckTombstones(_ store: PaymentStore, recheck: TombstoneRecheck, context: PeriodicContext) throws
        -> [OutgoingMessage]
    {
        var events: [OutgoingMessage] = []
        for tombstone in try store.lockTombstonesDue(limit: 32) {
            let key = ChargeRequest.idempotencyKey(orderID: tombstone.orderID)
            let found: ChargeResult?
            do {
                found = try runBlocking { [gateway, breaker] in
                    try await breaker.run(classifyError: Self.breakerOutcome) {
                        try await gateway.lookup(idempotencyKey: key)
                    }
                }
            } catch {
                // A charge still in progress (409) or a processor that does not answer: the row
                // stays due, and the next sweep looks again.
                context.logger.info(
                    "tombstone not looked up again yet; the next sweep tries again",
                    metadata: ["order_id": "\(tombstone.orderID)", "error": "\(error)"])
                break
            }
            var payment = Payment(orderID: tombstone.orderID, amount: tombstone.amount, currency: tombstone.currency)
            payment.cancelReason = tombstone.cancelReason
            if case .captured(let paymentID)? = found { payment.paymentID = paymentID }
            events += try carryOut(
                PaymentSagaState.tombstoneRechecked(record: .cancelled, found: found), for: payment,
                in: .sweep(context, store, appID: appID))
        }
        return events
    }

    // MARK: Carrying decisions out

    /// What the steps of a decision write and emit, taken from the message (or the `refund_due`
    /// row) and the processor's answer.
    struct Payment {
        var orderID: String
        var amount: Int
        var currency: Currency
        var paymentID: String?
        var decline: (code: String, message: String)?
        var cancelReason: OrderOutcomeReason?
        /// The processor's refusal of a refund owed.
        var refusal: (code: String, message: String)?
    }

    /// Where a decision is carried out: a message's transaction, or the refund sweeper's.
    enum Carrier {
        /// A message: its events are caused by it (its correlation id, its id as causation id).
        case message(HandlerContext, PaymentStore)
        /// The refund sweeper: its events are caused by no message, and sent as `appID`.
        case sweep(PeriodicContext, PaymentStore, appID: String)

        var store: PaymentStore {
            switch self {
            case .message(_, let store), .sweep(_, let store, _): store
            }
        }

        var logger: Logger {
            switch self {
            case .message(let context, _): context.logger
            case .sweep(let context, _, _): context.logger
            }
        }

        func emit(_ message: some ContractMessage) -> OutgoingMessage {
            switch self {
            case .message(let context, _): context.emit(message)
            case .sweep(_, _, let appID):
                OutgoingMessage(envelope: message.envelope(appID: appID), body: message.encodedBody())
            }
        }
    }

    /// Carries out `decision`: its writes through the store, its logs, then its event.
    /// - Throws: the decision's failure, or the store's.
    func carryOut(_ decision: PaymentSagaState.Decision, for payment: Payment, in carrier: Carrier) throws
        -> [OutgoingMessage]
    {
        guard case .steps(let steps) = decision else {
            if case .fail(let failureClass, let reason, let message) = decision {
                throw HandlingFailure(failureClass, reason: reason, message: message)
            }
            return []
        }
        let store = carrier.store
        let orderID = payment.orderID
        var emitted: [OutgoingMessage] = []
        for step in steps {
            switch step {
            case .insert(let status):
                // A tombstone keeps the order's amount: what is refunded if a recheck finds a capture.
                var record = PaymentRecord(
                    status: status, paymentID: status == .cancelled || status == .declined ? nil : payment.paymentID,
                    amount: payment.amount, currency: payment.currency)
                if status == .declined { record.declineCode = payment.decline?.code }
                try store.insert(
                    record, orderID: orderID, cancelReason: status == .cancelled ? payment.cancelReason : nil,
                    recheck: status == .cancelled ? tombstoneRecheck : nil)
            case .setStatus(.refundDue):
                try store.setRefundDue(
                    orderID: orderID, paymentID: payment.paymentID, amount: payment.amount, currency: payment.currency)
            case .setStatus(let status):
                try store.setStatus(status, orderID: orderID)
            case .noteCancelReason:
                try store.setCancelReason(payment.cancelReason, orderID: orderID)
            case .postpone:
                try store.postpone(orderID: orderID)
            case .recheckLater:
                try store.recheckLater(orderID: orderID, firstDelay: tombstoneRecheck?.firstDelay ?? .seconds(5))
            case .ledger(let kind):
                try store.appendLedger(kind, orderID: orderID, amount: payment.amount, paymentID: payment.paymentID)
            case .warnRefundDue:
                carrier.logger.warning(
                    "captured a charge for a cancelled order: recorded as refund_due",
                    metadata: ["order_id": "\(orderID)", "payment_id": "\(payment.paymentID ?? "-")"])
            case .logRefundOwedMade:
                carrier.logger.info(
                    "refunded a charge captured after cancellation", metadata: ["order_id": "\(orderID)"])
            case .logRefundOwedRefused:
                carrier.logger.error(
                    "the processor refused a refund owed",
                    metadata: [
                        "order_id": "\(orderID)", "code": "\(payment.refusal?.code ?? "-")",
                        "message": "\(payment.refusal?.message ?? "-")",
                    ])
            case .emitSucceeded:
                emitted.append(
                    carrier.emit(
                        PaymentSucceeded(
                            orderID: orderID, paymentID: payment.paymentID ?? "", currency: payment.currency,
                            amount: payment.amount)))
            case .emitFailed:
                emitted.append(
                    carrier.emit(
                        PaymentFailed(
                            orderID: orderID, currency: payment.currency, amount: payment.amount,
                            declineCode: payment.decline?.code ?? "declined",
                            message: payment.decline?.message ?? "The card was declined.")))
            case .emitRefunded:
                emitted.append(
                    carrier.emit(
                        PaymentRefunded(
                            orderID: orderID, paymentID: payment.paymentID ?? "", currency: payment.currency,
                            amount: payment.amount, reason: payment.cancelReason ?? .customerRequest)))
            }
        }
        return emitted
    }
}
