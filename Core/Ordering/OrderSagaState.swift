import CommerceDomain
import CommerceMessages

/// The order-worker's part of the saga as a pure state machine: given where an order stands and
/// what just happened to it, what changes and what to announce (docs/saga.md, "The order's
/// states"). It is the only order state machine: ``OrderHandler`` stores what it decides.
///
/// ```
///                 payment.succeeded
///    PENDING ─────────────────────────▶ CONFIRMED
///       │                                   │
///       │ stock.rejected (out_of_stock)     │ order.cancel (customer_request)
///       │ payment.failed (payment_declined) │
///       │ order.cancel (customer_request)   │
///       │ deadline (timeout)                │
///       ▼                                   │
///   CANCELLED ◀─────────────────────────────┘
/// ```
///
/// An order enters the machine when ``OrderHandler`` stores its `order.place`: `PENDING`, or
/// `REJECTED` for an invalid command (or a `CANCELLED` tombstone when its cancel came first).
/// Every pair not drawn is recorded only: `stock.reserved` does not move the order out of
/// `PENDING` (the order-worker only waits for the payment's outcome, and `previous_status` of a
/// cancellation stays `PENDING` or `CONFIRMED`), and `CANCELLED` and `REJECTED` never change. An
/// order read back as `STOCK_RESERVED`, a status of the contract this worker never stores, is
/// decided as `PENDING`. A late event on a terminal order changes nothing here: the other workers
/// compensate (a `payment.succeeded` after a cancellation is refunded by the payment-worker, a
/// `stock.reserved` after one is released by the stock-worker).
public struct OrderSagaState: Hashable, Sendable {
    /// What happened to the order.
    public enum Event: String, CaseIterable, Hashable, Sendable {
        /// `stock.reserved`: every line is reserved.
        case stockReserved
        /// `stock.rejected`: a line could not be reserved.
        case stockRejected
        /// `stock.released`: a reservation or a sale went back to stock (a compensation's echo).
        case stockReleased
        /// `payment.succeeded`: the charge was captured.
        case paymentSucceeded
        /// `payment.failed`: the charge was declined.
        case paymentFailed
        /// `payment.refunded`: a captured charge was refunded (a compensation's echo).
        case paymentRefunded
        /// `order.cancel`: the customer asks to cancel.
        case cancelRequested
        /// The sweeper found the order not terminal after `saga.deadlineMs`.
        case deadlinePassed

        /// The event a contract message stands for; `nil` for messages that are not saga events
        /// of an existing order (`order.place`, and the types this worker emits).
        public init?(_ message: AnyMessage) {
            switch message {
            case .stockReserved: self = .stockReserved
            case .stockRejected: self = .stockRejected
            case .stockReleased: self = .stockReleased
            case .paymentSucceeded: self = .paymentSucceeded
            case .paymentFailed: self = .paymentFailed
            case .paymentRefunded: self = .paymentRefunded
            case .cancelOrder: self = .cancelRequested
            case .placeOrder, .orderPlaced, .orderRejected, .orderConfirmed, .orderCancelled: return nil
            }
        }
    }

    /// The event to publish for a decision.
    public enum Emission: Hashable, Sendable {
        /// `order.confirmed`.
        case orderConfirmed
        /// `order.cancelled`, with its reason and the status the order left.
        case orderCancelled(reason: OrderOutcomeReason, previousStatus: OrderStatus)
    }

    /// What to do about one event.
    public struct Decision: Hashable, Sendable {
        /// The order's status after the event.
        public var status: OrderStatus
        /// Why the order ended, when this decision ends it as `CANCELLED`; `nil` otherwise.
        public var reason: OrderOutcomeReason?
        /// The event to publish, if any.
        public var emission: Emission?

        /// Creates a decision.
        public init(status: OrderStatus, reason: OrderOutcomeReason? = nil, emission: Emission? = nil) {
            self.status = status
            self.reason = reason
            self.emission = emission
        }

        /// Nothing changes and nothing is published: the event is only recorded.
        public static func record(_ status: OrderStatus) -> Decision { Decision(status: status) }
    }

    /// Where the order stands.
    public var status: OrderStatus

    /// Creates the state of an order in `status`.
    public init(status: OrderStatus) {
        self.status = status
    }

    /// The decision for `event`; pure.
    public func decide(_ event: Event) -> Decision {
        switch status {
        case .pending, .stockReserved:
            switch event {
            case .stockRejected: return cancel(.outOfStock)
            case .paymentFailed: return cancel(.paymentDeclined)
            case .cancelRequested: return cancel(.customerRequest)
            case .deadlinePassed: return cancel(.timeout)
            case .paymentSucceeded: return Decision(status: .confirmed, emission: .orderConfirmed)
            // Recorded only: the order waits for the payment's outcome, and the echoes of a
            // compensation (released, refunded) cannot reach an order that was never cancelled
            // except out of order, when the cancellation that caused them is still on its way.
            case .stockReserved, .stockReleased, .paymentRefunded: return .record(status)
            }
        case .confirmed:
            // The one way out of a terminal state: the stock-worker restocks, the payment-worker
            // refunds.
            return event == .cancelRequested ? cancel(.customerRequest) : .record(status)
        case .cancelled, .rejected:
            return .record(status)
        }
    }

    private func cancel(_ reason: OrderOutcomeReason) -> Decision {
        Decision(status: .cancelled, reason: reason, emission: .orderCancelled(reason: reason, previousStatus: status))
    }
}
