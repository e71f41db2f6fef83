import AMQP
import WorkerRuntime

/// What a passive `queue.declare` (which creates nothing) found of a queue.
public enum QueueState: String, Encodable, Sendable {
    case present, missing, failed
}

/// Ready messages and consumers of one worker queue or its dead-letter queue: what `commerce
/// queues` reports.
///
/// A queue that does not exist is missing, not a failure: before the workers have run once, that
/// is the expected state. "Ready" does not include messages delivered and not yet acknowledged.
public struct QueueDepth: Encodable, Sendable {
    public var name: String
    /// The worker queue this one holds the dead letters of; `nil` for a worker queue.
    public var deadLettersOf: String?
    public var state: QueueState
    public var ready: UInt32?
    public var consumers: UInt32?
    /// Why the check failed (``QueueState/failed`` only).
    public var error: String?

    // Every key always present (null when unknown), so scripts need no existence checks.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(deadLettersOf, forKey: .deadLettersOf)
        try container.encode(state, forKey: .state)
        try container.encode(ready, forKey: .ready)
        try container.encode(consumers, forKey: .consumers)
        try container.encode(error, forKey: .error)
    }

    private enum CodingKeys: String, CodingKey {
        case name, deadLettersOf, state, ready, consumers, error
    }

    /// The queues of the saga's workers, in pipeline order.
    public static let fleetQueues = FleetCatalog.workers.map(\.queue)

    /// Each of `workerQueues` followed by its dead-letter queue, as the broker on `connection`
    /// (`address`, its password redacted, names it in errors) has them.
    /// - Throws: ``OperationFailure`` when the connection is lost; a check the broker refuses for
    ///   another reason (access refused, say) is a ``QueueState/failed`` queue instead.
    public static func read(_ workerQueues: [String], on connection: AMQPConnection, address: String) throws
        -> [QueueDepth]
    {
        let probe = QueueProbe(connection: connection, address: address)
        var depths: [QueueDepth] = []
        for queue in workerQueues {
            let deadLetterQueue = Topology(queue: queue, bindings: []).deadLetterQueue
            for (name, owner) in [(queue, nil), (deadLetterQueue, queue)] {
                let found = try probe.check(name)
                depths.append(
                    QueueDepth(
                        name: name, deadLettersOf: owner, state: found.state, ready: found.ready,
                        consumers: found.consumers, error: found.error))
            }
        }
        return depths
    }
}

/// Passive declares of one queue after another on one connection.
final class QueueProbe {
    enum Found {
        case present(ready: UInt32, consumers: UInt32)
        case missing
        case failed(String)

        var state: QueueState {
            switch self {
            case .present: .present
            case .missing: .missing
            case .failed: .failed
            }
        }
        var ready: UInt32? { if case .present(let ready, _) = self { ready } else { nil } }
        var consumers: UInt32? { if case .present(_, let consumers) = self { consumers } else { nil } }
        var error: String? { if case .failed(let message) = self { message } else { nil } }
    }

    let connection: AMQPConnection
    let address: String
    var channel: UInt16?

    init(connection: AMQPConnection, address: String) {
        self.connection = connection
        self.address = address
    }

    /// - Throws: ``OperationFailure`` when the connection is lost.
    func check(_ name: String) throws -> Found {
        do {
            // A 404 closes the channel (not the connection): open another for the next one.
            if channel == nil || !connection.isChannelOpen(channel!) { channel = try connection.openChannel() }
            let status = try connection.queueStatus(channel: channel!, name: name)
            return .present(ready: status.messageCount, consumers: status.consumerCount)
        } catch {
            if error.replyCode == 404 { return .missing }
            if error.connectionIsUsable { return .failed("\(error)") }
            throw OperationFailure("lost RabbitMQ at \(address) while checking '\(name)': \(error)")
        }
    }
}
