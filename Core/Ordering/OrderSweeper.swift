import CommerceDomain
import CommerceMessages
import Postgres
import WorkerRuntime

/// Cancels orders whose saga did not finish in time (docs/saga.md, "Compensations": the order is
/// not terminal after `saga.deadlineMs` → `order.cancelled` with reason `timeout`, compensated
/// like a customer's cancel).
public enum OrderSweeper {
    /// Cancels up to `limit` orders still `PENDING` (or `STOCK_RESERVED`) that were created more
    /// than `deadline` ago, and returns their `order.cancelled` messages.
    ///
    /// Runs in the caller's open transaction, and the returned messages must be written to the
    /// outbox in that same transaction (or the cancellations would commit unannounced). Rows
    /// are taken `for update skip locked`: an order that a handler is transitioning right now is
    /// left for the next sweep, and two sweepers never take the same order.
    /// - Throws: `PostgresError`; a permanent `incomplete_order` failure for a row without its command's data.
    public static func sweepExpired(
        database: HandlerDatabase, deadline: Duration, limit: Int, appID: String = FleetCatalog.orderWorker.name
    ) throws -> [OutgoingMessage] {
        guard database.inTransaction else {
            throw PostgresError(code: .invalidState, message: "sweepExpired runs inside the caller's transaction")
        }
        let expired = try database.query(
            """
            select \(OrderRecord.columns) from orders
            where status in ('PENDING', 'STOCK_RESERVED') and created_at < now() - $1::bigint * interval '1 millisecond'
            order by created_at limit $2
            for update skip locked
            """, [.int(milliseconds(deadline)), .int(Int64(limit))])
        var messages: [OutgoingMessage] = []
        for row in expired.rows {
            let order = try OrderRecord(row: row)
            let decision = OrderSagaState(status: order.status).decide(.deadlinePassed)
            guard case .orderCancelled(let reason, let previousStatus) = decision.emission else { continue }
            let cancelled = try order.cancelled(
                reason: reason, message: "the saga did not finish within \(deadline)", previousStatus: previousStatus)
            let message = OutgoingMessage(envelope: cancelled.envelope(appID: appID), body: cancelled.encodedBody())
            try database.query(
                "update orders set status = $2, reason = $3, updated_at = now() where order_id = $1",
                [.text(order.orderID), .text(decision.status.rawValue), .text(reason.rawValue)])
            try database.query(
                OrderSchema.recordEvent,
                [.text(order.orderID), .text("saga.deadline"), .text(message.envelope.messageID)])
            messages.append(message)
        }
        return messages
    }

    /// Whole milliseconds of `duration`, truncated.
    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}
