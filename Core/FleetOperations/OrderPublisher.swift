import AMQP
import CommerceMessages
import Foundation
import WorkerRuntime

/// Publishes upstream commands (`order.place`, `order.cancel`) exactly as an upstream system would:
/// persistent, `mandatory`, under publisher confirms, with the contract's properties (`message_id`,
/// `correlation_id` = the order id, `type`, `timestamp`, `app_id` `commerce`, content type
/// `application/json`), the message type as routing key. What `commerce place-order` and
/// `cancel-order` do.
public final class OrderPublisher {
    /// The `app_id` of what it publishes.
    public static let appID = "commerce"

    /// One command as published.
    public struct Published: Encodable, Sendable {
        public var orderID: String
        public var messageID: String
    }

    public let exchange: String
    private let address: String
    private let connection: AMQPConnection
    private let channel: UInt16

    /// A publisher to `exchange` on `connection`, which it owns from now on (its deinit closes
    /// it); `address` names the broker in errors (give it with its password redacted).
    /// - Throws: ``OperationFailure`` when the broker refuses a confirm channel.
    public init(connection: AMQPConnection, exchange: String, address: String) throws {
        self.exchange = exchange
        self.address = address
        self.connection = connection
        do {
            channel = try connection.openChannel()
            try connection.enableConfirms(channel: channel)
        } catch {
            connection.close()
            throw OperationFailure("RabbitMQ at \(address) refused a confirm channel: \(error)")
        }
    }

    deinit { connection.close() }

    /// Publishes `bodies` (order id and JSON body of each) as `type`, then waits for every confirm.
    /// - Throws: ``OperationFailure`` if the broker returned a message as unroutable (the fleet's
    ///   topology is not declared), refused one, the exchange does not exist, or confirms did not come.
    public func publish(_ bodies: [(orderID: String, body: [UInt8])], type: MessageType) throws -> [Published] {
        var published: [Published] = []
        var sequences: [UInt64: Int] = [:]
        let setupHint =
            "the fleet's topology is not declared: run `commerce setup` (with the same --exchange), or start the workers"
        do {
            for (orderID, body) in bodies {
                let messageID = Envelope.newMessageID()
                let properties = AMQPProperties(
                    contentType: "application/json", deliveryMode: 2, correlationID: orderID, messageID: messageID,
                    timestamp: UInt64(Date().timeIntervalSince1970), type: type.rawValue, appID: Self.appID)
                let sequence = try connection.publish(
                    channel: channel, exchange: exchange, routingKey: type.rawValue, mandatory: true,
                    properties: properties, body: body)
                sequences[sequence] = published.count
                published.append(Published(orderID: orderID, messageID: messageID))
            }
            let outcomes = try connection.waitForConfirms(channel: channel, timeout: .seconds(60))
            var returned: [String] = []
            var refused: [String] = []
            for (sequence, outcome) in outcomes {
                guard let index = sequences[sequence] else { continue }
                switch outcome {
                case .confirmed: break
                case .returned: returned.append(published[index].orderID)
                case .refused: refused.append(published[index].orderID)
                }
            }
            if !returned.isEmpty {
                throw OperationFailure(
                    "RabbitMQ returned \(returned.count) \(type.rawValue) as unroutable (no queue bound to "
                        + "'\(type.rawValue)' on exchange '\(exchange)'; order(s) \(returned.sorted().joined(separator: ", "))): "
                        + setupHint)
            }
            if !refused.isEmpty {
                throw OperationFailure(
                    "RabbitMQ at \(address) refused \(refused.count) \(type.rawValue) (order(s) "
                        + "\(refused.sorted().joined(separator: ", "))); nothing else was lost, publish them again")
            }
        } catch let failure as OperationFailure {
            throw failure
        } catch {
            if let amqp = error as? AMQPError, amqp.replyCode == 404 {
                throw OperationFailure("exchange '\(exchange)' does not exist on RabbitMQ at \(address): \(setupHint)")
            }
            throw OperationFailure(
                "could not publish \(type.rawValue) to '\(exchange)' on RabbitMQ at \(address): "
                    + OperationFailure.describe(error))
        }
        return published
    }
}
