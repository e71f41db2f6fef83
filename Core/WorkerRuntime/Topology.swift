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
    /// it to `Q.dlq`. The runtime's own attempt count (``RecoverabilityPolicy``) is the real limit
    /// of a failing message; this one only catches a message that never gets settled at all (one
    /// that kills the worker every time). RabbitMQ counts every return, an outage's requeue, a
    /// closed channel and a lost connection included, so it is set far above what outages reach
    /// (docs/architecture.md, "Failures").
    public var deliveryLimit: Int
    /// Quorum queues only: how many cluster nodes hold a replica of each queue this topology
    /// declares (`x-quorum-initial-group-size`), or `nil` for the broker's default. On a
    /// three-node cluster, 3 gives every queue (its retry queues and dead-letter queue too) a
    /// replica on every node, so that any one node can go while a majority remains. The broker
    /// uses the number of nodes it has when that is fewer, so 3 is safe on one node. It applies
    /// when a queue is created: an existing queue keeps its members (docs/cluster.md).
    public var quorumInitialGroupSize: Int?

    /// The default ``deliveryLimit``.
    public static let defaultDeliveryLimit = 1_000

    /// The delivery limit of a quorum dead-letter queue: as good as none. RabbitMQ 4 gives a quorum
    /// queue without one a limit of 20 and `commerce dlq` hands every letter it reads back with a
    /// requeue, so reading a letter often enough would drop it; RabbitMQ 3.x reads -1 (4.x's
    /// "unlimited") as a limit that drops a letter on its first return, so only a large number
    /// means "never" on every version.
    public static let deadLetterDeliveryLimit: Int64 = 2_147_483_647

    public init(
        exchange: String = "commerce", queue: String, bindings: [String], queueType: QueueType = .quorum,
        retryDelays: [Duration] = [.seconds(1), .seconds(5), .seconds(30)],
        deliveryLimit: Int = Topology.defaultDeliveryLimit, quorumInitialGroupSize: Int? = nil
    ) {
        self.exchange = exchange
        self.queue = queue
        self.bindings = bindings
        self.queueType = queueType
        self.retryDelays = retryDelays
        self.deliveryLimit = deliveryLimit
        self.quorumInitialGroupSize = quorumInitialGroupSize
    }

    /// The arguments a queue keeps from its creation whatever a later declaration says: a
    /// conflict on one of them leaves the queue as it is (``declare(on:channel:)``).
    public static let argumentsKeptFromCreation: Set<String> = ["x-delivery-limit", "x-quorum-initial-group-size"]

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
        var typeArgument: AMQPTable = ["x-queue-type": .string(queueType.rawValue)]
        if queueType == .quorum, let size = quorumInitialGroupSize {
            typeArgument["x-quorum-initial-group-size"] = .int(Int64(size))
        }
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
        var deadLetters = typeArgument
        if queueType == .quorum {
            main["x-delivery-limit"] = .int(Int64(deliveryLimit))
            deadLetters["x-delivery-limit"] = .int(Self.deadLetterDeliveryLimit)
        }
        var result: [(name: String, arguments: AMQPTable)] = [(deadLetterQueue, deadLetters), (queue, main)]
        for tier in retryDelays.indices {
            var arguments = deadLettering(to: queue)
            arguments["x-message-ttl"] = .int(retryDelays[tier].milliseconds)
            result.append((retryQueue(forTier: tier), arguments))
        }
        return result
    }

    /// Declares everything on `channel`. Safe to run any number of times, from any number of
    /// worker copies.
    ///
    /// A queue that exists with another `x-delivery-limit` or `x-quorum-initial-group-size` (or
    /// none: a queue declared before these settings) is kept as it is: RabbitMQ cannot change a
    /// queue's argument, and refusing to start would stop every worker on upgrade. The queue is checked passively on a fresh
    /// channel instead, and returned, so that the caller can warn that it keeps its old limit
    /// until an operator re-creates it (docs/operations.md, "Delivery limits").
    /// - Returns: the queues kept with a delivery limit or initial group size other than the one
    ///   declared.
    /// - Throws: ``TopologyError`` naming the queue and the conflicting argument when an object
    ///   exists with other arguments (the broker's 406 PRECONDITION_FAILED), or the
    ///   ``AMQPError`` of any other failure. The channel is closed by a 406; the connection is not.
    @discardableResult
    public func declare(on connection: AMQPConnection, channel: UInt16) throws -> [TopologyError] {
        var channel = channel
        var kept: [TopologyError] = []
        try connection.declareExchange(channel: channel, name: exchange, type: "topic", durable: true)
        for (name, arguments) in queues {
            do {
                try declareQueue(connection, channel, name, arguments)
            } catch let conflict as TopologyError
                where conflict.argument.map(Self.argumentsKeptFromCreation.contains) == true
            {
                // The 406 closed the channel; the queue exists, so a passive declaration suffices.
                channel = try connection.openChannel()
                _ = try connection.queueStatus(channel: channel, name: name)
                kept.append(conflict)
            }
            if name == queue {
                for key in bindings {
                    try connection.bindQueue(channel: channel, queue: queue, exchange: exchange, routingKey: key)
                }
            }
        }
        return kept
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
