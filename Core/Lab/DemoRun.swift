import AMQP
import CommerceMessages
import CommerceTracing
import FleetOperations
import Foundation
import SagaAudit
import WorkerRuntime

/// What `commerce-lab demo` does to a running fleet: places a mix of sample orders
/// (``FleetOperations/SampleOrders``) through the broker exactly as an upstream system would,
/// follows each to its terminal event on a queue of its own, cancels the first confirmed order as
/// its customer would (refund and restock), and audits every store until the trailing work has
/// settled.
public enum DemoRun {
    /// One sample order and what became of it.
    public struct Outcome: Encodable, Sendable {
        public var orderID: String
        public var kind: String
        public var expected: String
        public var result: String?
        public var reason: String?
        public var milliseconds: Int?
        public var asExpected: Bool { result == expected }

        enum CodingKeys: String, CodingKey {
            case orderID, kind, expected, result, reason, milliseconds
        }
    }

    public struct Report: Encodable, Sendable {
        /// From the first publish to the last terminal event, and orders per second over it.
        public var seconds: Double
        public var ordersPerSecond: Double
        public var outcomes: [Outcome]
        public var unfinished: Int
        public var unexpected: Int
        public var audit: [String]
        public var auditClean: Bool
        /// How invariant 6 was checked against the card processor's books.
        public var reconciliation: String
    }

    /// Places `orders` sample orders on `amqp` (only those that should be confirmed with
    /// `approvedOnly`), waits at most `timeout` seconds for each to end, then runs `audit` until it
    /// is clean or `settle` seconds have passed. `progress` hears what is going on.
    /// - Throws: ``FleetOperations/OperationFailure`` when the broker does not take an order, or
    ///   what `audit` throws.
    public static func run(
        orders: Int, approvedOnly: Bool, timeout: Int, settle: Int, on amqp: AMQPConnection,
        audit runAudit: () throws -> SagaAuditReport, progress: (String) -> Void
    ) throws -> Report {
        let channel = try amqp.openChannel()
        try amqp.enableConfirms(channel: channel)
        // A queue of our own that hears every order's end, declared before anything is placed.
        let watch = "commerce-demo-\(UUID().uuidString.prefix(8).lowercased())"
        try amqp.declareQueue(channel: channel, name: watch, durable: false, exclusive: true, autoDelete: true)
        for type in [MessageType.orderConfirmed, .orderCancelled, .orderRejected] {
            try amqp.bindQueue(
                channel: channel, queue: watch, exchange: FleetCatalog.exchange, routingKey: type.rawValue)
        }

        var outcomes: [Outcome] = []
        var placedAt: [String: ContinuousClock.Instant] = [:]
        let started = ContinuousClock.now
        var lastEnded = started
        // Published in windows of 200 under confirms, as a busy upstream would.
        for window in stride(from: 0, to: orders, by: 200) {
            var commands: [PlaceOrder] = []
            for index in window..<min(window + 200, orders) {
                let (kind, expected, command) = SampleOrders.sample(approvedOnly ? index % 4 : index)
                commands.append(command)
                outcomes.append(Outcome(orderID: command.orderID, kind: kind, expected: expected))
            }
            try Self.publish(commands, on: amqp, channel: channel)
            let now = ContinuousClock.now
            for command in commands { placedAt[command.orderID] = now }
        }
        progress("placed \(orders) orders; waiting for each to end")
        let deadline = ContinuousClock.now + .seconds(timeout)
        var cancelTarget: String?
        var cancelOutcome: Outcome?
        while ContinuousClock.now < deadline {
            guard let delivery = try amqp.get(channel: channel, queue: watch, autoAck: true) else {
                let finished =
                    outcomes.allSatisfy { $0.result != nil } && (cancelOutcome?.result != nil || cancelTarget == nil)
                if finished && (cancelTarget != nil || !outcomes.contains { $0.expected == "CONFIRMED" }) { break }
                Thread.sleep(forTimeInterval: 0.02)
                continue
            }
            guard let event = try? AnyMessage.decode(type: delivery.properties.type ?? "", body: delivery.body) else {
                continue
            }
            let (result, reason) = Self.describe(event)
            lastEnded = .now
            if let target = cancelTarget, event.orderID == target, result == "CANCELLED" {
                cancelOutcome?.result = result
                cancelOutcome?.reason = reason
                cancelOutcome?.milliseconds = placedAt[target].map { Self.milliseconds(since: $0) }
                continue
            }
            guard let index = outcomes.firstIndex(where: { $0.orderID == event.orderID && $0.result == nil }) else {
                continue
            }
            outcomes[index].result = result
            outcomes[index].reason = reason
            outcomes[index].milliseconds = placedAt[event.orderID].map { Self.milliseconds(since: $0) }
            // The first confirmed order is then cancelled by its customer: refund and restock.
            if cancelTarget == nil, result == "CONFIRMED" {
                cancelTarget = event.orderID
                try Self.publish(
                    [CancelOrder(orderID: event.orderID, reason: "changed my mind")], on: amqp, channel: channel)
                placedAt[event.orderID] = .now
                cancelOutcome = Outcome(orderID: event.orderID, kind: "customer cancel", expected: "CANCELLED")
            }
        }
        if let cancelOutcome { outcomes.append(cancelOutcome) }
        // Compensations, sales, refunds and notifications trail the terminal events: audit until
        // the stores agree, or until `--settle` seconds have passed, then report what is left.
        var audit = try runAudit()
        let settleDeadline = ContinuousClock.now + .seconds(settle)
        while !audit.isClean && ContinuousClock.now < settleDeadline {
            Thread.sleep(forTimeInterval: 1)
            audit = try runAudit()
        }
        let seconds = (lastEnded - started).seconds
        let report = Report(
            seconds: seconds, ordersPerSecond: seconds > 0 ? Double(orders) / seconds : 0, outcomes: outcomes,
            unfinished: outcomes.filter { $0.result == nil }.count,
            unexpected: outcomes.filter { $0.result != nil && !$0.asExpected }.count,
            audit: audit.violations.map { "\($0)" }, auditClean: audit.isClean,
            reconciliation: "\(audit.reconciliation)")
        return report
    }

    private static func describe(_ event: AnyMessage) -> (String, String?) {
        switch event {
        case .orderConfirmed: ("CONFIRMED", nil)
        case .orderCancelled(let cancelled): ("CANCELLED", cancelled.reason.rawValue)
        case .orderRejected(let rejected): ("REJECTED", rejected.reason.rawValue)
        default: ("?", nil)
        }
    }

    private static func milliseconds(since start: ContinuousClock.Instant) -> Int {
        let elapsed = ContinuousClock.now - start
        return Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
    }

    // MARK: - Broker and stores

    /// Publishes `messages` persistent and mandatory, then waits for every confirm.
    private static func publish<Message: ContractMessage>(
        _ messages: [Message], on amqp: AMQPConnection, channel: UInt16
    )
        throws
    {
        let type = Message.messageType.rawValue
        for message in messages {
            // Each command starts the trace its saga runs in (docs/operations.md, "Tracing").
            let properties = AMQPProperties(
                contentType: "application/json", headers: TraceContext.newTraceHeaders(), deliveryMode: 2,
                correlationID: message.orderID,
                messageID: Envelope.newMessageID(), timestamp: UInt64(Date().timeIntervalSince1970), type: type,
                appID: "commerce-demo")
            try amqp.publish(
                channel: channel, exchange: FleetCatalog.exchange, routingKey: type, mandatory: true,
                properties: properties, body: message.encodedBody())
        }
        let outcomes = try amqp.waitForConfirms(channel: channel, timeout: .seconds(60))
        guard outcomes.values.allSatisfy({ $0 == .confirmed }) else {
            throw OperationFailure(
                "the broker did not take every \(type): \(Set(outcomes.values.map { "\($0)" })) "
                    + "(is the fleet's topology declared? scripts/run.sh starts the workers, which declare it)")
        }
    }

}
