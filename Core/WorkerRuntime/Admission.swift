import AMQP
import CommerceMessages

/// The checks every delivery passes before a handler sees it, and the rules for trusting the
/// headers the runtime itself writes. Pure functions of the delivery, unit-tested without servers
/// (see docs/architecture.md, "Admission").
enum Admission {
    /// The longest id the runtime stores (`message_id`, `correlation_id`, `type`); AMQP short
    /// strings cannot be longer anyway.
    static let maximumIdentifierLength = 255

    /// The dead-letter reason of a message whose sender may not send its type.
    static let forbiddenSender = "forbidden_sender"

    /// The first reason `incoming` cannot be handled, or `nil` when it may go to the handler.
    ///
    /// Text that the runtime stores (ids, type) must be free of NUL and other control characters:
    /// PostgreSQL refuses NUL in `text`, and refusing it here keeps one hostile message from
    /// failing the statement that records its whole batch.
    ///
    /// A fresh delivery of a type in the catalog must come from a broker user that `senders`
    /// allows for that type (`forbidden_sender` otherwise). A return from the worker's own retry
    /// queue is not checked again: its sender was checked when it first arrived, and its
    /// `user_id` is now the worker's own (the worker published the copy).
    static func failure(
        of incoming: IncomingMessage, maximumBodySize: Int, senders: SenderPolicy
    ) -> HandlingFailure? {
        let body = incoming.body
        if body.isEmpty { return .permanent("empty_body", "the message body is empty") }
        if body.count > maximumBodySize {
            return .permanent("body_too_large", "the body has \(body.count) bytes; the limit is \(maximumBodySize)")
        }
        if let problem = contentTypeProblem(incoming.envelope.contentType) {
            return .permanent("wrong_content_type", problem)
        }
        let envelope = incoming.envelope
        if envelope.messageID.isEmpty {
            return .permanent("missing_message_id", "the message has no message_id property")
        }
        if let problem = identifierProblem(envelope.messageID) {
            return .permanent("invalid_message_id", "message_id \(problem)")
        }
        if let problem = identifierProblem(envelope.correlationID) {
            return .permanent("invalid_correlation_id", "correlation_id \(problem)")
        }
        if let problem = identifierProblem(envelope.type) {
            return .permanent("invalid_type", "type \(problem)")
        }
        if let causation = envelope.causationID, let problem = identifierProblem(causation) {
            return .permanent("invalid_causation_id", "causation_id \(problem)")
        }
        if let problem = identifierProblem(envelope.appID) {
            return .permanent("invalid_app_id", "app_id \(problem)")
        }
        if !incoming.isRetryReturn,
            let problem = senders.problem(type: envelope.type, userID: incoming.properties.userID)
        {
            return .permanent(forbiddenSender, problem)
        }
        return nil
    }

    /// Why `contentType` is not JSON in UTF-8, or `nil` when it is. Media-type parameters are
    /// allowed (`application/json; charset=utf-8`), names compared without case (RFC 9110 §8.3.1);
    /// a charset other than UTF-8 is refused, because the contract is UTF-8 JSON.
    static func contentTypeProblem(_ contentType: String) -> String? {
        // The common case, checked first: this runs for every delivery.
        if contentType == "application/json" { return nil }
        let parts = contentType.split(separator: ";", omittingEmptySubsequences: false)
        let mediaType = parts.first.map { trimmed($0).lowercased() } ?? ""
        guard mediaType == "application/json" else {
            let shown = contentType.isEmpty ? "none" : "'\(contentType.prefix(64))'"
            return "content_type is \(shown); expected 'application/json'"
        }
        for parameter in parts.dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, trimmed(pair[0]).lowercased() == "charset" else { continue }
            var charset = trimmed(pair[1]).lowercased()
            if charset.count >= 2, charset.hasPrefix("\""), charset.hasSuffix("\"") {
                charset = String(charset.dropFirst().dropLast())
            }
            guard charset == "utf-8" || charset == "utf8" else {
                return "content_type has charset '\(charset.prefix(32))'; the contract is UTF-8 JSON"
            }
        }
        return nil
    }

    /// `text` without leading and trailing spaces and tabs.
    private static func trimmed(_ text: Substring) -> Substring {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !blank($0) }), let last = text.lastIndex(where: { !blank($0) })
        else { return "" }
        return text[first...last]
    }

    /// Why `text` cannot be stored as an identifier, or `nil`.
    static func identifierProblem(_ text: String) -> String? {
        if text.utf8.count > maximumIdentifierLength {
            return "is longer than \(maximumIdentifierLength) bytes"
        }
        // Control characters are ASCII, so a scan of the UTF-8 bytes finds them.
        if text.utf8.contains(where: { $0 < 0x20 || $0 == 0x7f }) {
            return "holds a NUL or another control character"
        }
        return nil
    }

    // MARK: - Headers the runtime writes

    /// The most attempts a trusted `x-attempts` may claim; anything above is not the runtime's.
    static let maximumTrustedAttempts = 10_000

    /// What the runtime's own headers say about a delivery, believed only when the delivery
    /// comes back from one of the worker's retry queues: the default exchange, routed to the
    /// worker's queue, published by the worker's own broker user (`user_id`, which RabbitMQ
    /// checks), with the broker's newest `x-death` entry naming a retry queue that the message
    /// expired from. A producer's `x-attempts`, `x-death` or `x-original-routing-key` on a fresh
    /// message is ignored, so it can neither skip the retries, nor skip the sender check, nor
    /// disguise the message's type; any user with write access to the default exchange can put
    /// such headers on a message routed to the worker's queue, but not the worker's `user_id`.
    struct Provenance: Equatable {
        /// Failed attempts before this delivery.
        var attempts: Int
        /// The routing key the message was first published with.
        var originalRoutingKey: String
        /// Whether the delivery is a return from one of the worker's own retry queues.
        var isRetryReturn = false
    }

    /// - Parameters:
    ///   - userID: the delivery's AMQP `user_id`.
    ///   - brokerUser: the user this worker connects as.
    static func provenance(
        headers: AMQPTable, exchange: String, routingKey: String, userID: String?, brokerUser: String,
        topology: Topology
    ) -> Provenance {
        let fresh = Provenance(attempts: 0, originalRoutingKey: routingKey)
        guard exchange.isEmpty, routingKey == topology.queue, userID == brokerUser,
            isRetryReturn(headers, topology: topology)
        else {
            return fresh
        }
        var result = fresh
        result.isRetryReturn = true
        if case .int(let attempts)? = headers[DeadLetterHeader.attempts], attempts >= 1,
            attempts <= Int64(maximumTrustedAttempts)
        {
            result.attempts = Int(attempts)
        } else {
            // It did come back from a retry queue, so it failed at least once.
            result.attempts = 1
        }
        if case .string(let key)? = headers[DeadLetterHeader.originalRoutingKey], !key.isEmpty,
            identifierProblem(key) == nil
        {
            result.originalRoutingKey = key
        }
        return result
    }

    /// Whether the broker's newest `x-death` entry says the message expired from one of
    /// `topology`'s retry queues.
    private static func isRetryReturn(_ headers: AMQPTable, topology: Topology) -> Bool {
        guard case .array(let deaths)? = headers["x-death"], case .table(let newest)? = deaths.first,
            case .string(let queue)? = newest["queue"], case .string(let reason)? = newest["reason"]
        else { return false }
        return reason == "expired"
            && topology.retryDelays.indices.contains { topology.retryQueue(forTier: $0) == queue }
    }
}
