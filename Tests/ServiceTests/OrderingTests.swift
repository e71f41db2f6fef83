import CommerceDomain
import CommerceMessages
import Testing

@testable import Ordering

/// The order-worker's saga rules (docs/saga.md), every (status, event) pair.
@Suite("Ordering: the order saga state machine")
struct OrderingTests {
    typealias Event = OrderSagaState.Event
    typealias Decision = OrderSagaState.Decision

    private func decide(_ status: OrderStatus, _ event: Event) -> Decision {
        OrderSagaState(status: status).decide(event)
    }

    private func cancelled(_ reason: OrderOutcomeReason, from previous: OrderStatus) -> Decision {
        Decision(
            status: .cancelled, reason: reason, emission: .orderCancelled(reason: reason, previousStatus: previous))
    }

    @Test("PENDING (and STOCK_RESERVED, decided alike): every event", arguments: [OrderStatus.pending, .stockReserved])
    func open(status: OrderStatus) {
        #expect(decide(status, .stockRejected) == cancelled(.outOfStock, from: status))
        #expect(decide(status, .paymentFailed) == cancelled(.paymentDeclined, from: status))
        #expect(decide(status, .cancelRequested) == cancelled(.customerRequest, from: status))
        #expect(decide(status, .deadlinePassed) == cancelled(.timeout, from: status))
        #expect(decide(status, .paymentSucceeded) == Decision(status: .confirmed, emission: .orderConfirmed))
        for event in [Event.stockReserved, .stockReleased, .paymentRefunded] {
            #expect(decide(status, event) == .record(status), "\(event) is recorded only")
        }
    }

    @Test("CONFIRMED: only a customer's cancel changes it")
    func confirmed() {
        #expect(decide(.confirmed, .cancelRequested) == cancelled(.customerRequest, from: .confirmed))
        for event in Event.allCases where event != .cancelRequested {
            #expect(decide(.confirmed, event) == .record(.confirmed), "\(event) changes nothing")
        }
    }

    @Test(
        "CANCELLED and REJECTED are final: late events change nothing and emit nothing",
        arguments: [OrderStatus.cancelled, .rejected])
    func terminal(status: OrderStatus) {
        for event in Event.allCases {
            let decision = decide(status, event)
            #expect(decision == .record(status), "\(event) on \(status)")
            #expect(decision.emission == nil)
        }
    }

    @Test("the transitions are the diagram's (docs/saga.md): no event stores STOCK_RESERVED, PENDING or REJECTED")
    func transitions() {
        var moves: Set<String> = []
        for status in OrderStatus.allCases {
            for event in Event.allCases {
                let decision = decide(status, event)
                if decision.status != status { moves.insert("\(status.rawValue)>\(decision.status.rawValue)") }
            }
        }
        #expect(
            moves == [
                "PENDING>CONFIRMED", "PENDING>CANCELLED", "STOCK_RESERVED>CONFIRMED", "STOCK_RESERVED>CANCELLED",
                "CONFIRMED>CANCELLED",
            ])
    }

    @Test("an event is announced exactly when it changes the status", arguments: OrderStatus.allCases)
    func emissionOnlyWithAChange(status: OrderStatus) {
        for event in Event.allCases {
            let decision = decide(status, event)
            #expect((decision.emission != nil) == (decision.status != status), "\(event) on \(status)")
            #expect((decision.reason != nil) == (decision.status == .cancelled && status != .cancelled))
        }
    }

    @Test("a second cancellation keeps the first reason")
    func secondCancellation() {
        var state = OrderSagaState(status: .pending)
        let first = state.decide(.stockRejected)
        #expect(first.reason == .outOfStock)
        state.status = first.status
        for event in [Event.cancelRequested, .deadlinePassed, .paymentFailed, .stockRejected] {
            #expect(state.decide(event) == .record(.cancelled), "\(event)")
        }
    }

    @Test("a payment after a cancellation stays cancelled (the payment-worker refunds)")
    func paymentAfterCancel() {
        var state = OrderSagaState(status: .pending)
        state.status = state.decide(.cancelRequested).status
        #expect(state.status == .cancelled)
        #expect(state.decide(.paymentSucceeded) == .record(.cancelled))
        #expect(state.decide(.stockReserved) == .record(.cancelled))
    }

    @Test("each saga message maps to its event; messages that are not saga events map to none")
    func events() {
        let id = "o-1"
        #expect(Event(.cancelOrder(CancelOrder(orderID: id, reason: ""))) == .cancelRequested)
        #expect(
            Event(.paymentSucceeded(PaymentSucceeded(orderID: id, paymentID: "p", currency: .krw, amount: 1)))
                == .paymentSucceeded)
        #expect(
            Event(.stockRejected(StockRejected(orderID: id, message: "short", shortages: []))) == .stockRejected)
        #expect(
            Event(.stockReleased(StockReleased(orderID: id, lines: [], reason: .paymentDeclined))) == .stockReleased)
        #expect(
            Event(
                .paymentFailed(
                    PaymentFailed(orderID: id, currency: .krw, amount: 1, declineCode: "declined", message: "no")))
                == .paymentFailed)
        #expect(
            Event(
                .paymentRefunded(
                    PaymentRefunded(orderID: id, paymentID: "p", currency: .krw, amount: 1, reason: .customerRequest)))
                == .paymentRefunded)
        #expect(
            Event(
                .stockReserved(
                    StockReserved(
                        orderID: id, customerID: "c", lines: [], currency: .krw, amount: 1, paymentToken: "t")))
                == .stockReserved)
        #expect(Event(.placeOrder(OrderingServiceTests.command())) == nil)
    }
}
