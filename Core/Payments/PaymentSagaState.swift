import WorkerRuntime

/// The payment worker's decisions, with no IO: given the order's `payments` row as it stands under
/// its lock (or none) and what the card processor answered, what to write, what to emit, or why
/// the message fails. There are four: ``reserved(record:prepared:)`` and
/// ``cancelled(record:prepared:)`` for the two messages the worker handles, and, for the sweeper,
/// ``refundOwed(record:refund:)`` and ``tombstoneRechecked(record:found:)``. ``PaymentHandler`` carries the steps out
/// (through ``PaymentStore``) in the batch's transaction or the sweeper's; every (status, answer)
/// pair is pinned by a table test (`Tests/ServiceTests/PaymentSagaStateTests.swift`). The rules
/// are docs/saga.md's (payment-worker, "Races between copies").
///
/// The values the steps need (the payment id, the amount, the decline code) come from the
/// message and the preparation, which the handler holds; a decision only says what to do.
enum PaymentSagaState {
    /// A ledger row's kind (`payment_ledger.kind`).
    enum LedgerKind: String, Sendable, Hashable {
        case capture, refund
    }

    /// One thing to do, in order.
    enum Step: Sendable, Hashable {
        /// Insert the order's row with this status. The row was absent under the lock, which
        /// locks nothing: if another message inserted it meanwhile, the message fails
        /// transiently (`payment_raced`) and is tried again, to find that row.
        case insert(PaymentRecord.Status)
        /// Change the row's status (with the capture's id and amount for `refund_due`).
        case setStatus(PaymentRecord.Status)
        /// Keep the cancellation's reason on the row, for the sweeper's `payment.refunded`.
        case noteCancelReason
        /// Move the row to the back of the sweeper's queue.
        case postpone
        /// Look the tombstone's charge up again later, or never again once its window has passed.
        case recheckLater
        /// Append a ledger row of the message's payment.
        case ledger(LedgerKind)
        /// Log that a capture for a cancelled order is owed back.
        case warnRefundDue
        /// Log that the sweeper refunded a capture owed back.
        case logRefundOwedMade
        /// Log, for a person, that the processor refused a refund owed.
        case logRefundOwedRefused
        /// Emit `payment.succeeded`.
        case emitSucceeded
        /// Emit `payment.failed` with the processor's decline.
        case emitFailed
        /// Emit `payment.refunded` with the cancellation's reason.
        case emitRefunded
    }

    /// What to do with one message.
    enum Decision: Sendable, Hashable {
        /// These steps, in order (none: the message changes nothing).
        case steps([Step])
        /// The message fails: transient (tried again) or permanent (dead-lettered).
        case fail(FailureClass, reason: String, message: String)

        /// Nothing to do.
        static let nothing = Decision.steps([])
    }

    /// `stock.reserved`: record the charge `prepared` made (or the processor reported).
    static func reserved(record: PaymentRecord.Status?, prepared: PaymentPreparation) -> Decision {
        switch (record, prepared) {
        case (nil, .charge(.captured)):
            return .steps([.insert(.captured), .ledger(.capture), .emitSucceeded])
        case (nil, .charge(.declined)):
            return .steps([.insert(.declined), .emitFailed])
        case (nil, .cancelledBeforeCharge):
            // This process saw the order cancelled, but its tombstone is not committed yet: it is
            // written here, so the cancellation finds it and does nothing.
            return .steps([.insert(.cancelled)])
        case (nil, .capturedAfterCancel):
            // Known cancelled, tombstone not committed yet, and captured all the same: owed back.
            // The cancellation, when it commits, finds this row (or the sweeper refunds it first).
            return .steps([.warnRefundDue, .insert(.refundDue), .ledger(.capture)])
        case (nil, .refund), (nil, .nothingCaptured), (nil, .none):
            return .fail(
                .permanent, reason: "unexpected_preparation", message: "stock.reserved prepared as \(prepared)")
        case (.cancelled?, .charge(.captured)), (.cancelled?, .capturedAfterCancel):
            // The order was cancelled first, and a charge was captured regardless (another copy,
            // an earlier attempt, a process restarted since): owed back, refunded by the sweeper.
            return .steps([.warnRefundDue, .setStatus(.refundDue), .ledger(.capture)])
        case (.cancelled?, _):
            return .nothing
        case (.captured?, _), (.declined?, _), (.refunded?, _), (.refundDue?, _):
            // Already charged or declined through another message id: one order, one charge.
            return .nothing
        }
    }

    /// `order.cancelled`: give back what the processor captured, or leave the tombstone.
    static func cancelled(record: PaymentRecord.Status?, prepared: PaymentPreparation) -> Decision {
        switch (record, prepared) {
        case (nil, .refund(_, .refunded)):
            // The processor captured (a charge in flight here when nothing was recorded yet) and
            // has now refunded: both are recorded, and the row keeps the order from being
            // charged again.
            return .steps([.insert(.refunded), .ledger(.capture), .ledger(.refund), .emitRefunded])
        case (nil, .refund(_, .refused(let code, let explanation))):
            // The processor holds a capture that nothing here recorded yet and refuses to give it
            // back: a tombstone would hide the capture, so a person must look, as below.
            return .fail(
                .permanent, reason: "refund_refused",
                message: "the processor refused the refund: \(code): \(explanation)")
        case (nil, _):
            // The tombstone: a `stock.reserved` arriving later charges nothing (or, if another
            // copy captured meanwhile, is refunded by the sweeper with this reason).
            return .steps([.insert(.cancelled)])
        case (.captured?, .refund(_, .refunded)), (.refundDue?, .refund(_, .refunded)):
            return .steps([.setStatus(.refunded), .ledger(.refund), .emitRefunded])
        case (.captured?, .refund(_, .refused(let code, let explanation))),
            (.refundDue?, .refund(_, .refused(let code, let explanation))):
            // Retrying gets the same answer (the refund key is idempotent): a person must look.
            return .fail(
                .permanent, reason: "refund_refused",
                message: "the processor refused the refund: \(code): \(explanation)")
        case (.refundDue?, _):
            // A capture known to be owed back committed after this message's `prepare` looked:
            // the sweeper refunds it, now with this cancellation's reason.
            return .steps([.noteCancelReason])
        case (.captured?, _):
            // The capture committed after this message's `prepare` looked: a retry prepares
            // again, finds the capture and refunds it.
            return .fail(
                .transient, reason: "refund_not_prepared", message: "the capture was recorded after the refund check")
        case (.declined?, _), (.refunded?, _), (.cancelled?, _):
            // Declined, already refunded, or already a tombstone: nothing to give back.
            return .nothing
        }
    }

    /// The refund sweeper, for a row it locked: record the processor's answer to the refund of a
    /// capture owed back.
    static func refundOwed(record: PaymentRecord.Status?, refund: RefundResult) -> Decision {
        switch (record, refund) {
        case (.refundDue?, .refunded):
            return .steps([.setStatus(.refunded), .ledger(.refund), .emitRefunded, .logRefundOwedMade])
        case (.refundDue?, .refused):
            // The same key gets the same answer: a person must look (the audit reports the order).
            // The row stays owed, behind the others.
            return .steps([.logRefundOwedRefused, .postpone])
        case (nil, _), (.captured?, _), (.declined?, _), (.refunded?, _), (.cancelled?, _):
            // The sweeper locks only `refund_due` rows: nothing else is owed back.
            return .nothing
        }
    }

    /// The sweeper, for a tombstone it locked: what a new lookup of the order's charge key found.
    /// A charge request can still reach the processor after a lookup answered "none" (the
    /// request of a copy that died was on its way, and the processor works on it regardless), so
    /// a tombstone is looked at again for a while (docs/saga.md, "Races between copies").
    static func tombstoneRechecked(record: PaymentRecord.Status?, found: ChargeResult?) -> Decision {
        switch (record, found) {
        case (.cancelled?, .captured?):
            // A capture for the cancelled order after all: owed back, as a late `stock.reserved`'s.
            return .steps([.warnRefundDue, .setStatus(.refundDue), .ledger(.capture)])
        case (.cancelled?, .declined?), (.cancelled?, nil):
            // Nothing kept by the processor (yet): look again later.
            return .steps([.recheckLater])
        case (nil, _), (.captured?, _), (.declined?, _), (.refunded?, _), (.refundDue?, _):
            // The sweeper locks only tombstones.
            return .nothing
        }
    }
}
