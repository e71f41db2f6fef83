import CommerceDomain
import CommerceMessages
import Logging
import Postgres
import WorkerRuntime

/// The stock worker's handler: reserves an order's lines all or nothing on `order.placed`,
/// sells them on `order.confirmed`, and releases (or restocks) them on `payment.failed` and
/// `order.cancelled`, at most once per order, keeping a tombstone for orders cancelled before
/// they were reserved. The rules, for any order of events, are docs/saga.md's.
///
/// Every message locks (or inserts) its order's reservation row first, then the SKU rows in
/// sorted order, inside the batch's transaction: one statement and one round trip for the usual
/// message, its writes queued in one more statement that travels with the next (``StockLedger``).
public struct StockHandler: MessageHandler {
    public typealias Message = AnyMessage

    /// Stock to create at every connect when its SKUs are missing (`stock.seedFile`).
    public let seed: StockCatalog?
    private let logger: Logger

    /// A handler that seeds `seed` (if any) once the database answers.
    public init(seed: StockCatalog? = nil, logger: Logger = Logger(label: "stock-worker")) {
        self.seed = seed
        self.logger = logger
    }

    /// Creates the inventory tables, then applies the seed: SKUs already stocked keep their counts.
    public func migrate(_ database: PostgresConnection) throws {
        try InventorySchema.migrate(database)
        if let seed {
            let added = try seed.apply(to: database)
            logger.info("stock seeded", metadata: ["new_skus": "\(added)", "seed_skus": "\(seed.stock.count)"])
        }
    }

    /// Applies one message of the stock worker's bindings; any other type is a permanent failure.
    public func handle(_ message: AnyMessage, prepared: Void, context: HandlerContext) throws -> [OutgoingMessage] {
        let ledger = StockLedger(database: context.database)
        switch message {
        case .orderPlaced(let placed):
            return try reserve(placed, ledger: ledger, context: context)
        case .paymentFailed(let failed):
            return try release(
                failed.orderID, reason: .paymentDeclined, restocking: false, ledger: ledger, context: context)
        case .orderCancelled(let cancelled):
            return try release(
                cancelled.orderID, reason: cancelled.reason, restocking: true, ledger: ledger, context: context)
        case .orderConfirmed(let confirmed):
            try sell(confirmed.orderID, ledger: ledger, context: context)
            return []
        default:
            throw HandlingFailure.permanent(
                "unexpected_type", "the stock worker does not handle '\(message.messageType.rawValue)'")
        }
    }

    /// `order.placed`: every line or none. An order that already has a row (reserved before, or
    /// tombstoned by an earlier cancel) is left as it is.
    private func reserve(_ placed: OrderPlaced, ledger: StockLedger, context: HandlerContext) throws
        -> [OutgoingMessage]
    {
        let demand = StockDemand(placed.lines)
        // The usual order is new: its row is inserted and its SKU rows locked in one statement.
        guard
            let available = try ledger.claim(
                placed.orderID, as: .reserved, lines: demand.lines, lockingStockOf: demand.lockOrder)
        else {
            // Rare (an old event replayed, or a cancel came first): read the row for the log.
            let existing = try ledger.lockReservation(placed.orderID)
            context.logger.info(
                "order already has a reservation", metadata: ["status": "\(existing?.status.rawValue ?? "none")"])
            return []
        }
        let shortages = demand.shortages(available: available)
        guard shortages.isEmpty else {
            // Nothing moves: the claimed row only records the refusal.
            try ledger.setStatus(placed.orderID, .rejected)
            return [
                context.emit(
                    StockRejected(
                        orderID: placed.orderID, message: StockDemand.describe(shortages), shortages: shortages))
            ]
        }
        try ledger.move(.reserve, demand.lines, orderID: placed.orderID)
        var reserved = StockReserved(reserving: placed)
        reserved.lines = demand.lines
        return [context.emit(reserved)]
    }

    /// `payment.failed` and `order.cancelled`: returns a reservation to stock; a cancel
    /// (`restocking`) also returns sold units. Without a row the order gets its tombstone, so a
    /// late `order.placed` reserves nothing. A release happens at most once: afterwards the status
    /// is final.
    private func release(
        _ orderID: String, reason: OrderOutcomeReason, restocking: Bool, ledger: StockLedger, context: HandlerContext
    ) throws -> [OutgoingMessage] {
        // The SKU rows are locked with the reservation only when units will move back.
        let returnable: Set<ReservationStatus> = restocking ? [.reserved, .sold] : [.reserved]
        guard
            let reservation = try ledger.reservation(
                of: orderID, tombstoning: .cancelled, lockingStockFor: returnable)
        else {
            context.logger.info("no reservation yet: tombstone left for a late order.placed")
            return []
        }
        let kind: StockMovementKind
        switch reservation.status {
        case .reserved: kind = .release
        case .sold where restocking: kind = .restock
        case .sold, .released, .rejected, .cancelled:
            return []
        }
        try ledger.move(kind, reservation.lines, orderID: orderID, status: .released)
        return [context.emit(StockReleased(orderID: orderID, lines: reservation.lines, reason: reason))]
    }

    /// `order.confirmed`: the reserved units are sold.
    private func sell(_ orderID: String, ledger: StockLedger, context: HandlerContext) throws {
        let found = try ledger.lockReservation(orderID, lockingStockFor: [.reserved])
        guard let reservation = found, reservation.status == .reserved else {
            // A correct saga confirms only a reserved order; say so rather than guess a repair.
            context.logger.warning(
                "order.confirmed for an order not reserved here",
                metadata: ["status": "\(found?.status.rawValue ?? "none")"])
            return
        }
        try ledger.move(.sell, reservation.lines, orderID: orderID, status: .sold)
    }
}
