import AMQP
import Foundation
import Logging

/// Where a failed message goes, shared by every consumer kind: a retry delay queue while a
/// transient failure has attempts left, otherwise the dead-letter queue, always with the original
/// body and properties plus the error headers of DESIGN.md §6.
struct FailureRouter {
    let configuration: WorkerConfiguration
    let logger: Logger
    let metrics: WorkerMetrics
    private let host = ProcessInfo.processInfo.hostName

    init(configuration: WorkerConfiguration, logger: Logger, metrics: WorkerMetrics) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
    }

    /// The copy of `incoming` to publish (through the default exchange) for `failure`.
    func publication(for incoming: IncomingMessage, _ failure: HandlingFailure) -> BrokerLink.Publication {
        let topology = configuration.topology
        let attempts = incoming.attempts + 1
        var properties = incoming.properties
        var headers = properties.headers
        headers.removeValue(forKey: "x-death")  // the broker's own history of the delay queues
        headers[DeadLetterHeader.attempts] = .int(Int64(attempts))
        headers[DeadLetterHeader.originalQueue] = .string(topology.queue)
        headers[DeadLetterHeader.originalRoutingKey] = .string(incoming.originalRoutingKey)
        headers[DeadLetterHeader.errorClass] = .string(failure.failureClass.rawValue)
        headers[DeadLetterHeader.errorReason] = .string(failure.reason)
        headers[DeadLetterHeader.errorMessage] = .string(String(failure.message.prefix(1000)))
        headers[DeadLetterHeader.failedAt] = .string(Date().formatted(.iso8601))
        headers[DeadLetterHeader.failedBy] = .string("\(configuration.appID)@\(host) (pid \(getpid()))")
        let routingKey: String
        if willRetry(incoming, failure) {
            let tier = topology.retryTier(forAttempt: attempts)
            routingKey = topology.retryQueue(forTier: tier)
            // Jitter: each copy waits between 80 % and 100 % of the tier's delay (the queue's own
            // TTL is the ceiling), so a burst of failures does not come back as one burst.
            let delay = Double(topology.retryDelays[tier].milliseconds)
            properties.expiration = String(Int64(delay * Double.random(in: 0.8...1.0)))
        } else {
            if failure.failureClass == .transient {
                headers[DeadLetterHeader.errorReason] = .string("retries_exhausted")
                headers[DeadLetterHeader.errorMessage] = .string(
                    "gave up after \(attempts) attempts; last error (\(failure.reason)): \(failure.message.prefix(900))"
                )
            }
            routingKey = topology.deadLetterQueue
            properties.expiration = nil
        }
        properties.headers = headers
        return BrokerLink.Publication(exchange: "", routingKey: routingKey, properties: properties, body: incoming.body)
    }

    /// Logs and counts a failure whose copy the broker confirmed.
    func record(_ incoming: IncomingMessage, _ failure: HandlingFailure) {
        var metadata: Logger.Metadata = [
            "message_id": "\(incoming.envelope.messageID)", "correlation_id": "\(incoming.envelope.correlationID)",
            "type": "\(incoming.envelope.type)", "reason": "\(failure.reason)", "attempts": "\(incoming.attempts + 1)",
        ]
        metadata["error"] = "\(failure.message)"
        if willRetry(incoming, failure) {
            metrics.retried(type: incoming.envelope.type)
            logger.warning("message failed; retrying later", metadata: metadata)
        } else {
            metrics.deadLettered(type: incoming.envelope.type, reason: failure.reason)
            logger.error("message dead-lettered", metadata: metadata)
        }
    }

    private func willRetry(_ incoming: IncomingMessage, _ failure: HandlingFailure) -> Bool {
        failure.failureClass == .transient && incoming.attempts + 1 < configuration.maximumAttempts
    }

    static func describe(_ outcome: AMQPConnection.PublishOutcome) -> String {
        switch outcome {
        case .confirmed: "confirmed"
        case .refused: "refused by the broker (basic.nack)"
        case .returned(let code, let text): "unroutable: \(code) \(text)"
        }
    }
}
