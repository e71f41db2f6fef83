import AMQP
import CommerceMessages
import Foundation

/// The message `commerce smoke` publishes and expects back: a JSON body and the full set of
/// AMQP properties of the contract (README.md, "The message contract"), built from an ``Envelope`` as the workers do.
struct SmokeMessage {
    struct Body: Codable {
        var runID: String
        var note: String
        var amount: Int

        enum CodingKeys: String, CodingKey {
            case runID = "run_id"
            case note, amount
        }
    }

    let envelope: Envelope
    let body: [UInt8]

    /// A message for `runID`; the note holds quotes and non-ASCII text so that a byte-level
    /// mismatch anywhere on the way shows.
    init(runID: String, appID: String) throws {
        envelope = Envelope(
            correlationID: "smoke-\(runID)", causationID: UUID().uuidString.lowercased(), type: "commerce.smoke",
            appID: appID)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        body = Array(
            try encoder.encode(Body(runID: runID, note: "a \"smoke\" test: ünïcödé, 한국어 ✓", amount: 45_000)))
    }

    /// `message_id`, `correlation_id`, `type`, `app_id`, `timestamp`, `content_type`,
    /// persistent delivery mode and the `causation_id` header.
    var properties: AMQPProperties {
        var headers: AMQPTable = [:]
        if let causationID = envelope.causationID { headers["causation_id"] = .string(causationID) }
        return AMQPProperties(
            contentType: envelope.contentType, headers: headers, deliveryMode: 2,
            correlationID: envelope.correlationID, messageID: envelope.messageID,
            timestamp: UInt64(envelope.timestamp.timeIntervalSince1970), type: envelope.type, appID: envelope.appID)
    }

    /// What differs between this message and `delivery`, in words; empty when they match.
    func mismatches(in delivery: AMQPDelivery, routingKey: String) -> [String] {
        let expected = properties
        let received = delivery.properties
        var problems: [String] = []
        func check<T: Equatable>(_ name: String, _ want: T?, _ got: T?) {
            if want != got {
                problems.append(
                    "\(name): expected \(want.map { "\($0)" } ?? "nil"), got \(got.map { "\($0)" } ?? "nil")")
            }
        }
        if delivery.body != body {
            problems.append("body: expected \(body.count) bytes, got \(delivery.body.count) different bytes")
        }
        check("routing key", routingKey, delivery.routingKey)
        check("message_id", expected.messageID, received.messageID)
        check("correlation_id", expected.correlationID, received.correlationID)
        check("type", expected.type, received.type)
        check("app_id", expected.appID, received.appID)
        check("content_type", expected.contentType, received.contentType)
        check("delivery_mode", expected.deliveryMode, received.deliveryMode)
        check("timestamp", expected.timestamp, received.timestamp)
        check("causation_id header", envelope.causationID, received.headers["causation_id"]?.stringValue)
        if delivery.redelivered { problems.append("redelivered: expected a first delivery") }
        return problems
    }
}
