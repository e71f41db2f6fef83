import CommerceDomain
import CommerceMessages
import Foundation
import Postgres
import WorkerRuntime

/// The order-worker's handler: every message bound to its queue (`FleetCatalog.orderWorker`),
/// inside the batch's transaction (docs/architecture.md, "Handlers").
///
/// - `order.place`: validated and priced by ``OrderingService``; stored `PENDING` with
///   `order.placed`, or `REJECTED` with `order.rejected`. A command that breaks the contract but
///   whose `order_id` can be read (``PlaceOrder/read(envelope:body:)``) is stored `REJECTED` with
///   `order.rejected` too, listing the contract's violations: every command that names its order
///   is answered once. Only a command that names no order is dead-lettered. The order id is the
///   idempotency key: the same command again (same canonical body, any message id) stores and
///   emits nothing; the same id with another body is dead-lettered as `order_id_conflict`, so
///   no command, valid or not, can answer for or overwrite an order stored under its id. A
///   command whose id has a tombstone (its cancel came first) is answered once all the same:
///   `order.cancelled` (reason `customer_request`, previous status `CANCELLED`) for a valid
///   command, so the upstream and the customer hear the outcome, or its `order.rejected` for an
///   invalid one; the tombstone then keeps the command's fingerprint, so the same command again
///   emits nothing and another body under the id is `order_id_conflict`. Nothing downstream
///   holds anything for such an order: the stock and payment workers leave tombstones too.
/// - `order.cancel` and the saga's events: the order's row is locked (`for update`), the
///   transition decided by ``OrderSagaState``, the row updated and the decided event emitted. A
///   saga event for an order not stored yet fails transiently (`order_not_found`): its
///   `order.place` may still be on its way, and the runtime retries then dead-letters. An
///   `order.cancel` for an order not stored yet leaves a tombstone instead.
///
/// Every message applied to a stored order is recorded in `order_events`. Between batches the
/// deadline sweeper (``OrderSweeper``) cancels orders not terminal after ``deadline``.
public struct OrderHandler: MessageHandler {
    /// What the order-worker's queue delivers, once decoded.
    public enum Message: Sendable, Hashable {
        /// A message that meets the contract.
        case contract(AnyMessage)
        /// An `order.place` that breaks the contract but names its order: it is rejected.
        case invalidPlaceOrder(InvalidPlaceOrder)
    }

    /// Validation and pricing.
    public let service: OrderingService
    /// The `app_id` of what it emits.
    public let appID: String
    /// An order still open this long after it was placed is cancelled with reason `timeout`.
    public let deadline: Duration
    /// How often the sweeper looks for such orders (one indexed query when there are none).
    public let sweepInterval: Duration

    /// Creates the handler.
    public init(
        service: OrderingService, appID: String = FleetCatalog.orderWorker.name, deadline: Duration = .seconds(600),
        sweepInterval: Duration = .seconds(1)
    ) {
        self.service = service
        self.appID = appID
        self.deadline = deadline
        self.sweepInterval = sweepInterval
    }

    public var periodicInterval: Duration? { sweepInterval }

    /// Sweeps expired orders: their `order.cancelled` (reason `timeout`) go out through the outbox.
    public func periodic(context: PeriodicContext) throws -> [OutgoingMessage] {
        try OrderSweeper.sweepExpired(database: context.database, deadline: deadline, limit: 256, appID: appID)
    }

    /// Creates the order-worker's tables (``OrderSchema``).
    public func migrate(_ database: PostgresConnection) throws {
        try OrderSchema.migrate(database)
    }

    /// The contract's decoding (``MessageHandler/decode(_:)``), except for `order.place`, which
    /// is read by ``PlaceOrder/read(envelope:body:)`` so that a command breaking the contract is
    /// still answered when it names its order.
    /// - Throws: `ContractError` (permanent: dead-lettered) for a message that cannot be answered.
    public func decode(_ message: IncomingMessage) throws -> Message {
        guard message.envelope.type == MessageType.orderPlace.rawValue else {
            return .contract(try AnyMessage.decode(envelope: message.envelope, body: message.body))
        }
        switch try PlaceOrder.read(envelope: message.envelope, body: message.body) {
        case .valid(let command): return .contract(.placeOrder(command))
        case .invalid(let invalid): return .invalidPlaceOrder(invalid)
        }
    }

    /// Applies one message; see the type's discussion.
    public func handle(_ incoming: Message, prepared: Void, context: HandlerContext) throws -> [OutgoingMessage] {
        let message: AnyMessage
        switch incoming {
        case .invalidPlaceOrder(let invalid): return try reject(invalid, context: context)
        case .contract(.placeOrder(let command)): return try place(command, context: context)
        case .contract(let contract): message = contract
        }
        guard let event = OrderSagaState.Event(message) else {
            // Not bound to this queue; only a misrouted message gets here.
            throw HandlingFailure.permanent(
                "unexpected_type", "the order-worker does not handle \(message.messageType.rawValue)")
        }
        return try apply(event, of: message, context: context)
    }

    // MARK: order.place

    private func place(_ command: PlaceOrder, context: HandlerContext) throws -> [OutgoingMessage] {
        // The canonical body (sorted keys, no extra keys): white space, key order or fields the
        // contract does not know do not make a resent command a conflicting one.
        let body = String(decoding: command.encodedBody(), as: UTF8.self)
        let evaluation = service.evaluate(command)
        let parameters: [PostgresValue]
        let emitted: OutgoingMessage
        var cancelledBefore: OutgoingMessage? = nil
        switch evaluation {
        case .accepted(let placed):
            parameters = [
                .text(placed.orderID), .text(try Self.json(placed.customer)), .text(placed.currency.code),
                .text(try Self.json(placed.lines)), .text(try Self.json(placed.shippingAddress)),
                .text(placed.paymentToken), placed.couponCode.map(PostgresValue.text) ?? .null,
                .text(try Self.json(placed.amounts)), .null, .text(OrderStatus.pending.rawValue), .null,
            ]
            emitted = context.emit(placed)
            cancelledBefore = context.emit(
                OrderCancelled(
                    orderID: placed.orderID, customer: placed.customer, currency: placed.currency,
                    amounts: placed.amounts, reason: .customerRequest,
                    message: "cancelled by the customer before the order arrived", previousStatus: .cancelled))
        case .rejected(let rejected):
            let lines = command.items
            parameters = [
                .text(command.orderID), .text(try Self.json(command.customer)), .text(command.currency.code),
                .text(try Self.json(lines)), .text(try Self.json(command.shippingAddress)),
                .text(command.paymentToken), command.couponCode.map(PostgresValue.text) ?? .null, .null,
                .text(try Self.json(rejected.violations)), .text(OrderStatus.rejected.rawValue),
                .text(OrderOutcomeReason.invalidOrder.rawValue),
            ]
            emitted = context.emit(rejected)
        }
        return try store(
            command.orderID, parameters, canonicalBody: body, emitting: emitted,
            ifCancelledBefore: cancelledBefore ?? emitted, context: context)
    }

    /// Stores an `order.place` that broke the contract as `REJECTED`, with what could be read of
    /// it, and answers `order.rejected` (see the type's discussion).
    private func reject(_ invalid: InvalidPlaceOrder, context: HandlerContext) throws -> [OutgoingMessage] {
        context.logger.info(
            "order.place breaks the contract: rejected",
            metadata: ["violations": "\(invalid.violations.map(\.code))"])
        let rejected = invalid.rejection
        let parameters: [PostgresValue] = [
            .text(invalid.orderID), try invalid.customer.map { .text(try Self.json($0)) } ?? .null,
            invalid.currency.map { .text($0.code) } ?? .null, .text("[]"), .null, .null, .null, .null,
            .text(try Self.json(rejected.violations)), .text(OrderStatus.rejected.rawValue),
            .text(OrderOutcomeReason.invalidOrder.rawValue),
        ]
        var emitted = context.emit(rejected)
        // The answer is about the order the body names: the command's own correlation_id may be
        // absent or another id (one of its violations), and an upstream finds its answer by it.
        emitted.envelope.correlationID = invalid.orderID
        return try store(
            invalid.orderID, parameters, canonicalBody: String(decoding: invalid.canonicalBody, as: UTF8.self),
            emitting: emitted, context: context)
    }

    /// Inserts the order's row (`parameters`: every column up to `reason`) with the fingerprint of
    /// `canonicalBody`, and returns `emitted` if this is the order's first command. The same
    /// command again returns nothing; another command under a stored order id throws
    /// `order_id_conflict`. The first command to meet a tombstone (its cancel came first) gives
    /// the tombstone its fingerprint and returns `cancelledBefore` (defaults to `emitted`).
    private func store(
        _ orderID: String, _ parameters: [PostgresValue], canonicalBody body: String, emitting emitted: OutgoingMessage,
        ifCancelledBefore cancelledBefore: OutgoingMessage? = nil, context: HandlerContext
    ) throws -> [OutgoingMessage] {
        let database = context.database
        let inserted = try database.query(
            """
            insert into orders (order_id, customer, currency, lines, address, payment_token, coupon_code, amounts,
                                violations, status, reason, content_hash)
            values ($1, $2::jsonb, $3, $4::jsonb, $5::jsonb, $6, $7, $8::jsonb, $9::jsonb, $10, $11,
                    encode(sha256(convert_to($12::text, 'UTF8')), 'hex'))
            on conflict (order_id) do nothing
            returning order_id
            """, parameters + [.text(body)])
        if !inserted.rows.isEmpty {
            try record(orderID, MessageType.orderPlace, context: context)
            return [emitted]
        }
        let existing = try database.query(
            """
            select content_hash, encode(sha256(convert_to($2::text, 'UTF8')), 'hex') as incoming, status
            from orders where order_id = $1
            """, [.text(orderID), .text(body)])
        guard let row = existing.rows.first else {
            // Inserted by nobody and yet in conflict: only a concurrent delete could do this, and
            // nothing deletes orders. Retrying sees the row or inserts it.
            throw HandlingFailure.transient("order_not_found", "order \(orderID) vanished while placing it")
        }
        guard let stored = try row.text("content_hash") else {
            // A tombstone: the customer cancelled before the order arrived (see the type's docs).
            // The command is answered once; its fingerprint makes the same command again a
            // duplicate, and another one a conflict.
            context.logger.info("order.place for an order cancelled before it arrived: answered as cancelled")
            try database.enqueue(
                """
                update orders set content_hash = encode(sha256(convert_to($2::text, 'UTF8')), 'hex'), updated_at = now()
                where order_id = $1 and content_hash is null
                """, [.text(orderID), .text(body)])
            try record(orderID, MessageType.orderPlace, context: context)
            return [cancelledBefore ?? emitted]
        }
        guard stored == (try row.string("incoming")) else {
            throw HandlingFailure.permanent(
                "order_id_conflict",
                "order \(orderID) exists (\(try row.string("status"))) with another content; "
                    + "order_id is the idempotency key of order.place")
        }
        return []  // The same command again: it took effect the first time.
    }

    // MARK: Saga events and order.cancel

    private func apply(_ event: OrderSagaState.Event, of message: AnyMessage, context: HandlerContext) throws
        -> [OutgoingMessage]
    {
        let orderID = message.orderID
        guard let order = try lockOrder(orderID, context.database) ?? tombstone(event, message, context: context)
        else { return [] }
        let decision = OrderSagaState(status: order.status).decide(event)
        var outgoing: [OutgoingMessage] = []
        switch decision.emission {
        case .orderConfirmed:
            guard case .paymentSucceeded(let payment) = message else { break }
            outgoing.append(context.emit(try order.confirmed(paymentID: payment.paymentID)))
            try context.database.enqueue(
                """
                update orders set status = $2, payment_id = $3, updated_at = now() where order_id = $1
                """, [.text(orderID), .text(decision.status.rawValue), .text(payment.paymentID)])
        case .orderCancelled(let reason, let previousStatus):
            let cancelled = try order.cancelled(
                reason: reason, message: Self.cancellationMessage(message), previousStatus: previousStatus)
            outgoing.append(context.emit(cancelled))
            try context.database.enqueue(
                "update orders set status = $2, reason = $3, updated_at = now() where order_id = $1",
                [.text(orderID), .text(decision.status.rawValue), .text(reason.rawValue)])
        case nil:
            break
        }
        try record(orderID, message.messageType, context: context)
        return outgoing
    }

    /// The order's row, locked until the batch commits; `nil` if there is none.
    private func lockOrder(_ orderID: String, _ database: HandlerDatabase) throws -> OrderRecord? {
        let result = try database.query(
            "select \(OrderRecord.columns) from orders where order_id = $1 for update", [.text(orderID)])
        return try result.rows.first.map(OrderRecord.init(row:))
    }

    /// For an order not stored: a cancel leaves a tombstone (returns `nil`: nothing more to do);
    /// any other event may have overtaken its `order.place`, so it is retried. If a concurrent
    /// `order.place` stored the order meanwhile, returns that order, locked.
    private func tombstone(_ event: OrderSagaState.Event, _ message: AnyMessage, context: HandlerContext) throws
        -> OrderRecord?
    {
        guard event == .cancelRequested else {
            throw HandlingFailure.transient(
                "order_not_found", "no order \(message.orderID) for \(message.messageType.rawValue) (yet)")
        }
        let inserted = try context.database.query(
            """
            insert into orders (order_id, status, reason) values ($1, $2, $3)
            on conflict (order_id) do nothing returning order_id
            """,
            [
                .text(message.orderID), .text(OrderStatus.cancelled.rawValue),
                .text(OrderOutcomeReason.customerRequest.rawValue),
            ])
        if !inserted.rows.isEmpty {
            try record(message.orderID, message.messageType, context: context)
            return nil
        }
        guard let order = try lockOrder(message.orderID, context.database) else {
            throw HandlingFailure.transient("order_not_found", "order \(message.orderID) vanished while cancelling it")
        }
        return order
    }

    private func record(_ orderID: String, _ kind: MessageType, context: HandlerContext) throws {
        try context.database.enqueue(
            OrderSchema.recordEvent, [.text(orderID), .text(kind.rawValue), .text(context.envelope.messageID)])
    }

    /// The human `message` of `order.cancelled`, from what caused it.
    static func cancellationMessage(_ cause: AnyMessage) -> String {
        switch cause {
        case .stockRejected(let rejected): rejected.message
        case .paymentFailed(let failed): failed.message
        case .cancelOrder(let cancel): cancel.reason.isEmpty ? "cancelled at the customer's request" : cancel.reason
        default: "cancelled"
        }
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
