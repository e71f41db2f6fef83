import AMQP
import CommerceMessages
import CommerceTracing
import Foundation
import WorkerRuntime

/// Publishes upstream commands (`order.place`, `order.cancel`) exactly as an upstream system would:
/// persistent, `mandatory`, under publisher confirms, with the contract's properties (`message_id`,
/// `correlation_id` = the order id, `type`, `timestamp`, `app_id` `commerce`, content type
/// `application/json`), the message type as routing key, and a W3C `traceparent` header: each
/// command starts a trace (or continues the one it is given), which the fleet carries through
/// the saga (docs/operations.md, "Tracing"). What `commerce place-order` and `cancel-order` do.
public final class OrderPublisher {
    /// The `app_id` of what it publishes.
    public static let appID = "commerce"

    /// One command as published.
    public struct Published: Encodable, Sendable {
        public var orderID: String
        public var messageID: String
        /// The trace the command starts (32 hex digits).
        public var traceID: String
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
    /// Each command is published in a trace of its own, or in `trace` (a child of it) when given;
    /// with tracing installed (``CommerceTracing``) as a `publish` span, exported.
    public func publish(_ bodies: [(orderID: String, body: [UInt8])], type: MessageType, trace: TraceContext? = nil)
        throws -> [Published]
    {
        var published: [Published] = []
        var sequences: [UInt64: Int] = [:]
        var spans: [CommerceSpan] = []
        let tracer = CommerceTracing.tracer
        defer { for span in spans { span.end() } }
        let setupHint =
            "the fleet's topology is not declared: run `commerce setup` (with the same --exchange), or start the workers"
        do {
            for (orderID, body) in bodies {
                let messageID = Envelope.newMessageID()
                let context: TraceContext
                if let tracer {
                    let span = tracer.startSpan("publish \(type.rawValue)", parent: trace, kind: .producer)
                    span.attributes["messaging.system"] = "rabbitmq"
                    span.attributes["messaging.destination.name"] = exchange
                    span.attributes["messaging.message.id"] = messageID
                    span.attributes["messaging.message.conversation_id"] = orderID
                    spans.append(span)
                    context = span.trace
                } else {
                    context = trace?.child() ?? TraceContext.newTrace()
                }
                let properties = AMQPProperties(
                    contentType: "application/json", headers: context.headers, deliveryMode: 2, correlationID: orderID,
                    messageID: messageID, timestamp: UInt64(Date().timeIntervalSince1970), type: type.rawValue,
                    appID: Self.appID)
                let sequence = try connection.publish(
                    channel: channel, exchange: exchange, routingKey: type.rawValue, mandatory: true,
                    properties: properties, body: body)
                sequences[sequence] = published.count
                published.append(Published(orderID: orderID, messageID: messageID, traceID: context.traceID))
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
