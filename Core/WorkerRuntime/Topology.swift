import AMQP
import CommerceSupport

/// The broker objects a worker needs, declared idempotently from one description (docs/architecture.md, "Failures"):
/// the topic exchange; the worker queue `Q` bound to its routing keys; one delay queue per retry
/// tier, `Q.retry.<delay>`, whose messages expire back into `Q` only (not to every subscriber of
/// the routing key); and the dead-letter queue `Q.dlq`.
public struct Topology: Sendable, Hashable {
    /// Classic or quorum queues. Quorum queues replicate (on a cluster) and enforce a delivery
    /// limit; on one node they measured no slower than classic ones (docs/benchmarks.md, "Queue types").
    public enum QueueType: String, Sendable, Hashable {
        case quorum, classic
    }

    public var exchange: String
    public var queue: String
    public var bindings: [String]
    public var queueType: QueueType
    /// Delays of the retry tiers, shortest first (``RecoverabilityPolicy`` picks the tier).
    public var retryDelays: [Duration]
    /// Quorum queues only: deliveries of one message after which the broker itself dead-letters
    /// it to `Q.dlq` (a second guard behind the runtime's own attempt count).
    public var deliveryLimit: Int

    public init(
        exchange: String = "commerce", queue: String, bindings: [String], queueType: QueueType = .quorum,
        retryDelays: [Duration] = [.seconds(1), .seconds(5), .seconds(30)], deliveryLimit: Int = 20
    ) {
        self.exchange = exchange
        self.queue = queue
        self.bindings = bindings
        self.queueType = queueType
        self.retryDelays = retryDelays
        self.deliveryLimit = deliveryLimit
    }

    public var deadLetterQueue: String { "\(queue).dlq" }

    /// `Q.retry.1s`, `Q.retry.250ms`: named by delay, so that changing a delay declares a new
    /// queue instead of conflicting with the old one's TTL.
    public func retryQueue(forTier tier: Int) -> String {
        "\(queue).retry.\(Self.label(retryDelays[tier]))"
    }

    private static func label(_ delay: Duration) -> String {
        let milliseconds = delay.milliseconds
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }

    /// The queues of this topology, each with the arguments it is declared with, in declaration
    /// order (the dead-letter queue first: the others dead-letter into it or into the main queue).
    ///
    /// Quorum queues that dead-letter (the main queue, on its delivery limit; the retry queues,
    /// on expiry back into the main queue) use `x-dead-letter-strategy: at-least-once`, which
    /// RabbitMQ honours only with `x-overflow: reject-publish`: the broker keeps a dead-lettered
    /// message until the target queue confirms it, instead of dropping it if the target is
    /// unavailable (its default, at most once). Classic queues have no such strategy: their
    /// dead-lettering stays at most once (see the README, "What the worker runtime guarantees").
    public var queues: [(name: String, arguments: AMQPTable)] {
        let typeArgument: AMQPTable = ["x-queue-type": .string(queueType.rawValue)]
        func deadLettering(to target: String) -> AMQPTable {
            var arguments = typeArgument
            arguments["x-dead-letter-exchange"] = ""
            arguments["x-dead-letter-routing-key"] = .string(target)
            if queueType == .quorum {
                arguments["x-dead-letter-strategy"] = "at-least-once"
                arguments["x-overflow"] = "reject-publish"
            }
            return arguments
        }
        var main = deadLettering(to: deadLetterQueue)
        if queueType == .quorum { main["x-delivery-limit"] = .int(Int64(deliveryLimit)) }
        var result: [(name: String, arguments: AMQPTable)] = [(deadLetterQueue, typeArgument), (queue, main)]
        for tier in retryDelays.indices {
            var arguments = deadLettering(to: queue)
            arguments["x-message-ttl"] = .int(retryDelays[tier].milliseconds)
            result.append((retryQueue(forTier: tier), arguments))
        }
        return result
    }

    /// Declares everything on `channel`. Safe to run any number of times, from any number of
    /// worker copies.
    /// - Throws: ``TopologyError`` naming the queue and the conflicting argument when an object
    ///   exists with other arguments (the broker's 406 PRECONDITION_FAILED), or the
    ///   ``AMQPError`` of any other failure. The channel is closed by a 406; the connection is not.
    public func declare(on connection: AMQPConnection, channel: UInt16) throws {
        try connection.declareExchange(channel: channel, name: exchange, type: "topic", durable: true)
        for (name, arguments) in queues {
            try declareQueue(connection, channel, name, arguments)
            if name == queue {
                for key in bindings {
                    try connection.bindQueue(channel: channel, queue: queue, exchange: exchange, routingKey: key)
                }
            }
        }
    }

    private func declareQueue(
        _ connection: AMQPConnection, _ channel: UInt16, _ name: String, _ arguments: AMQPTable
    ) throws {
        do {
            try connection.declareQueue(channel: channel, name: name, durable: true, arguments: arguments)
        } catch let error where error.replyCode == 406 {
            throw TopologyError(queue: name, brokerError: error)
        }
    }
}

/// A queue exists with arguments other than the ones this worker declares.
public struct TopologyError: Error, Sendable, CustomStringConvertible {
    public var queue: String
    /// The conflicting argument, read from the broker's reply (`x-queue-type`), if it names one.
    public var argument: String?
    public var brokerError: AMQPError

    init(queue: String, brokerError: AMQPError) {
        self.queue = queue
        self.brokerError = brokerError
        // "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'q' in vhost '/': …"
        let text = brokerError.message
        if let start = text.range(of: "inequivalent arg '")?.upperBound,
            let end = text[start...].firstIndex(of: "'")
        {
            argument = String(text[start..<end])
        }
    }

    public var description: String {
        let what = argument.map { "argument '\($0)'" } ?? "its arguments"
        return "queue '\(queue)' already exists with a different \(what): \(brokerError.message). "
            + "Delete the queue (after draining it) or make the configuration match."
    }
}
