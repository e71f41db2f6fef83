import AMQP
import CommerceMessages
import FleetOperations
import Foundation
import Synchronization

/// Hears how each order of a benchmark ended: a thread of its own with its own broker connection
/// (rabbitmq-c handles are confined to one thread) consuming a private queue bound to
/// `order.confirmed`, `order.cancelled` and `order.rejected`, as an upstream's outcome queue would
/// (docs/upstream.md). Each order's end is stamped on arrival, on the same clock as its publish.
///
/// Thread-safe: the results sit behind a `Mutex`; the connection never leaves the thread.
final class OrderOutcomeCollector: Sendable {
    /// What the thread saw so far.
    struct State {
        /// When each order's first terminal event arrived, by order index.
        var endedAt: [ContinuousClock.Instant?]
        /// `confirmed`, `cancelled:<reason>` or `rejected:<reason>`, by order index.
        var outcome: [String?]
        var ended = 0
        /// Terminal events for an order that had already ended (a republished event).
        var repeated = 0
        /// Terminal events of orders that are not this run's.
        var foreign = 0
        var lastEnd: ContinuousClock.Instant?
        /// Set once the queue is consuming (the caller may publish) or the thread failed.
        var ready = false
        var failure: String?
        var stop = false
    }

    private let state: Mutex<State>
    private let indexByOrder: [String: Int]

    /// Starts the thread: declares `queue` (exclusive, auto-delete) bound to the terminal events on
    /// `exchange`, and consumes it. Returns once it consumes.
    /// - Throws: ``OperationFailure`` when the queue cannot be set up within 30 s.
    init(amqp configuration: AMQPConfiguration, exchange: String, queue: String, orderIDs: [String]) throws {
        indexByOrder = Dictionary(uniqueKeysWithValues: orderIDs.enumerated().map { ($1, $0) })
        state = Mutex(
            State(
                endedAt: Array(repeating: nil, count: orderIDs.count),
                outcome: Array(repeating: nil, count: orderIDs.count)))
        let thread = Thread { [self] in self.consume(configuration, exchange: exchange, queue: queue) }
        thread.name = "bench-collector"
        thread.start()
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let (ready, failure) = state.withLock { ($0.ready, $0.failure) }
            if let failure { throw OperationFailure("cannot hear the orders' outcomes: \(failure)") }
            if ready { return }
            if ContinuousClock.now >= deadline {
                throw OperationFailure("the outcome queue \(queue) was not ready in 30 s")
            }
            Thread.sleep(forTimeInterval: 0.01)
        }
    }

    /// A copy of what was seen so far.
    var snapshot: State { state.withLock { $0 } }

    /// Orders ended so far, and a failure of the thread if it stopped.
    var progress: (ended: Int, failure: String?) { state.withLock { ($0.ended, $0.failure) } }

    /// Asks the thread to stop (it closes its connection, which deletes the queue).
    func stop() { state.withLock { $0.stop = true } }

    private func consume(_ configuration: AMQPConfiguration, exchange: String, queue: String) {
        let connection: AMQPConnection
        let channel: UInt16
        do {
            connection = try AMQPConnection(configuration: configuration)
            channel = try connection.openChannel()
            try connection.declareExchange(channel: channel, name: exchange, type: "topic", durable: true)
            try connection.declareQueue(
                channel: channel, name: queue, durable: false, exclusive: true, autoDelete: true)
            for type in [MessageType.orderConfirmed, .orderCancelled, .orderRejected] {
                try connection.bindQueue(channel: channel, queue: queue, exchange: exchange, routingKey: type.rawValue)
            }
            try connection.setPrefetch(channel: channel, count: 2000)
            try connection.consume(channel: channel, queue: queue, exclusive: true)
        } catch {
            state.withLock { $0.failure = OperationFailure.describe(error) }
            return
        }
        defer { connection.close() }
        state.withLock { $0.ready = true }
        var unacked: UInt64?
        var pending = 0
        while !state.withLock({ $0.stop }) {
            let event: AMQPEvent?
            do {
                event = try connection.nextEvent(timeout: .milliseconds(100))
            } catch {
                state.withLock { $0.failure = OperationFailure.describe(error) }
                return
            }
            guard case .delivery(let delivery)? = event else {
                if let tag = unacked {
                    try? connection.ack(channel: channel, deliveryTag: tag, multiple: true)
                    unacked = nil
                    pending = 0
                }
                continue
            }
            let now = ContinuousClock.now
            let outcome = Self.outcome(delivery)
            let index = delivery.properties.correlationID.flatMap { indexByOrder[$0] }
            state.withLock { state in
                guard let index else {
                    state.foreign += 1
                    return
                }
                if state.endedAt[index] != nil {
                    state.repeated += 1
                    return
                }
                state.endedAt[index] = now
                state.outcome[index] = outcome
                state.ended += 1
                state.lastEnd = now
            }
            unacked = delivery.deliveryTag
            pending += 1
            // One multiple ack per 256 deliveries, or when the queue goes quiet.
            if pending >= 256, let tag = unacked {
                try? connection.ack(channel: channel, deliveryTag: tag, multiple: true)
                unacked = nil
                pending = 0
            }
        }
    }

    /// How the event ends its order: only the reason of a cancel or reject needs its body decoded.
    private static func outcome(_ delivery: AMQPDelivery) -> String {
        let type = delivery.properties.type ?? delivery.routingKey
        guard type != MessageType.orderConfirmed.rawValue else { return "confirmed" }
        switch try? AnyMessage.decode(type: type, body: delivery.body) {
        case .orderCancelled(let cancelled)?: return "cancelled:\(cancelled.reason.rawValue)"
        case .orderRejected(let rejected)?: return "rejected:\(rejected.reason.rawValue)"
        default: return "unreadable:\(type)"
        }
    }
}
