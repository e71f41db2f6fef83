import AMQP
import FleetOperations
import Foundation

/// Publishes as an upstream system that rides out a broker restart: persistent, `mandatory`, under
/// publisher confirms, and when the connection fails it reconnects with a short backoff and
/// publishes again every message not yet confirmed, with the same message id (a copy the broker
/// had taken is then a duplicate, which the workers' inboxes absorb). Used by `commerce-lab chaos`,
/// whose broker restarts mid-run (docs/chaos.md).
///
/// Not thread-safe: one thread owns it (rabbitmq-c handles are thread-confined).
final class ChaosPublisher {
    struct Message {
        var exchange: String
        var routingKey: String
        var properties: AMQPProperties
        var body: [UInt8]
    }

    private let configuration: AMQPConfiguration
    private var connection: AMQPConnection?
    private var channel: UInt16 = 0
    /// Reconnections so far (for the report).
    private(set) var reconnections = 0
    /// Messages the broker returned as unroutable or refused (nack): published again, counted here.
    private(set) var refusals = 0
    private var lastRefusal: String?

    init(configuration: AMQPConfiguration) {
        self.configuration = configuration
    }

    deinit { connection?.close() }

    /// Publishes `messages` and returns once the broker confirmed every one of them, reconnecting
    /// as often as needed until `deadline`.
    /// - Throws: ``OperationFailure`` when the broker did not take them all by `deadline`.
    func publish(_ messages: [Message], deadline: ContinuousClock.Instant) throws {
        var pending = messages
        while !pending.isEmpty {
            do {
                let (connection, channel) = try connected()
                // Confirm sequence numbers run on for the channel's life: keep each message's own.
                var tags: [UInt64: Int] = [:]
                for (index, message) in pending.enumerated() {
                    let sequence = try connection.publish(
                        channel: channel, exchange: message.exchange, routingKey: message.routingKey, mandatory: true,
                        properties: message.properties, body: message.body)
                    tags[sequence] = index
                }
                let outcomes = try connection.waitForConfirms(channel: channel, timeout: .seconds(30))
                var unconfirmed: [Message] = []
                for (tag, index) in tags.sorted(by: { $0.key < $1.key }) where outcomes[tag] != .confirmed {
                    unconfirmed.append(pending[index])
                    lastRefusal = outcomes[tag].map { "\($0)" } ?? "no confirm within 30 s"
                }
                refusals += unconfirmed.count
                pending = unconfirmed
                if !pending.isEmpty { Thread.sleep(forTimeInterval: 0.2) }
            } catch {
                if ContinuousClock.now >= deadline {
                    throw OperationFailure("the broker did not take \(pending.count) message(s) in time: \(error)")
                }
                disconnect()
                Thread.sleep(forTimeInterval: 0.5)
            }
            if !pending.isEmpty, ContinuousClock.now >= deadline {
                throw OperationFailure(
                    "the broker did not confirm \(pending.count) message(s) in time (last answer: \(lastRefusal ?? "none"); "
                        + "first: \(pending[0].routingKey) \(pending[0].properties.messageID ?? "no id"))")
            }
        }
    }

    private func connected() throws -> (AMQPConnection, UInt16) {
        if let connection { return (connection, channel) }
        let connection = try AMQPConnection(configuration: configuration)
        do {
            channel = try connection.openChannel()
            try connection.enableConfirms(channel: channel)
        } catch {
            connection.close()
            throw error
        }
        if connections > 0 { reconnections += 1 }
        connections += 1
        self.connection = connection
        return (connection, channel)
    }

    private var connections = 0

    private func disconnect() {
        connection?.close()
        connection = nil
    }
}
