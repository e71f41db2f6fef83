import AMQP
import CommerceSupport
import Foundation
import Logging

/// Carries out the ``RecoverabilityPolicy`` for every store: builds the copy of a failed message
/// for its retry delay queue or for the dead-letter queue (the original body and properties plus
/// the error headers of ``DeadLetterHeader``), and logs and counts it once the broker confirmed it.
struct FailureRouter {
    let policy: RecoverabilityPolicy
    let topology: Topology
    let appID: String
    let logger: Logger
    let metrics: WorkerMetrics
    private let failedBy: String

    init(configuration: WorkerConfiguration, logger: Logger, metrics: WorkerMetrics) {
        policy = configuration.recoverability
        topology = configuration.topology
        appID = configuration.appID
        self.logger = logger
        self.metrics = metrics
        failedBy = "\(configuration.appID)@\(ProcessInfo.processInfo.hostName) (pid \(getpid()))"
    }

    /// The copy of `incoming` to publish (through the default exchange) for `failure`.
    func publication(for incoming: IncomingMessage, _ failure: HandlingFailure) -> BrokerLink.Publication {
        var properties = incoming.properties
        var headers = properties.headers
        headers.removeValue(forKey: "x-death")  // the broker's own history of the delay queues
        headers[DeadLetterHeader.originalQueue] = .string(topology.queue)
        headers[DeadLetterHeader.originalRoutingKey] = .string(incoming.originalRoutingKey)
        headers[DeadLetterHeader.errorClass] = .string(failure.failureClass.rawValue)
        headers[DeadLetterHeader.failedAt] = .string(Date().formatted(.iso8601))
        headers[DeadLetterHeader.failedBy] = .string(failedBy)
        let routingKey: String
        switch policy.decide(failure, previousAttempts: incoming.attempts) {
        case .retry(let tier, let attempts):
            headers[DeadLetterHeader.attempts] = .int(Int64(attempts))
            headers[DeadLetterHeader.errorReason] = .string(failure.reason)
            headers[DeadLetterHeader.errorMessage] = .string(String(failure.message.prefix(1000)))
            routingKey = topology.retryQueue(forTier: tier)
            // Jitter: each copy waits between 80 % and 100 % of the tier's delay (the queue's own
            // TTL is the ceiling), so a burst of failures does not come back as one burst.
            let delay = Double(topology.retryDelays[tier].milliseconds)
            properties.expiration = String(Int64(delay * Double.random(in: 0.8...1.0)))
        case .deadLetter(let reason, let message, let attempts):
            headers[DeadLetterHeader.attempts] = .int(Int64(attempts))
            headers[DeadLetterHeader.errorReason] = .string(reason)
            headers[DeadLetterHeader.errorMessage] = .string(String(message.prefix(1000)))
            routingKey = topology.deadLetterQueue
            properties.expiration = nil
        }
        properties.headers = headers
        return BrokerLink.Publication(exchange: "", routingKey: routingKey, properties: properties, body: incoming.body)
    }

    /// Logs and counts a failure whose copy the broker confirmed.
    func record(_ incoming: IncomingMessage, _ failure: HandlingFailure) {
        let envelope = incoming.envelope
        var metadata: Logger.Metadata = [
            "message_id": "\(envelope.messageID)", "correlation_id": "\(envelope.correlationID)",
            "type": "\(envelope.type)", "reason": "\(failure.reason)", "attempts": "\(incoming.attempts + 1)",
        ]
        metadata["error"] = "\(failure.message)"
        switch policy.decide(failure, previousAttempts: incoming.attempts) {
        case .retry:
            metrics.retried(type: envelope.type)
            logger.warning("message failed; retrying later", metadata: metadata)
        case .deadLetter(let reason, _, _):
            metrics.deadLettered(type: envelope.type, reason: reason)
            logger.error("message dead-lettered", metadata: metadata)
        }
    }

    static func describe(_ outcome: AMQPConnection.PublishOutcome) -> String {
        switch outcome {
        case .confirmed: "confirmed"
        case .refused: "refused by the broker (basic.nack)"
        case .returned(let code, let text): "unroutable: \(code) \(text)"
        }
    }
}
