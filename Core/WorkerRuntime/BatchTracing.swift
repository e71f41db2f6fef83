import AMQP
import CommerceTracing
import Tracing

/// The spans of one batch, when tracing is on (docs/operations.md, "Tracing"), in the shape
/// MassTransit and NServiceBus give a batch consumer:
///
/// - `consume <queue>`: one per batch, the root of a trace of its own, linked to the context of
///   every message in it (a batch mixes sagas, so it can be the child of none);
/// - `handle <type>`: one per message, the child of the context the message arrived with (or the
///   root of a new trace when it had none, or a malformed one); its context replaces the
///   message's ``Envelope/traceParent``, so that every message the handler emits, through the
///   outbox row, and every call it makes in `prepare` continue it;
/// - `publish <type>`: one per outbox row published in the batch's confirm window, the child of
///   the context stored with the row; the message goes out with the publish span's context.
///
/// Built only when a tracer is installed: with tracing off the batch loop makes none of this.
struct BatchTracing {
    let tracer: CommerceTracer
    let queue: String
    let batchSpan: CommerceSpan
    /// Each message's `handle` span, by delivery tag.
    private(set) var handling: [UInt64: CommerceSpan] = [:]

    /// Starts the batch's span and one `handle` span per message, and puts each message's handle
    /// context into its envelope.
    init(tracer: CommerceTracer, queue: String, batch: inout [IncomingMessage]) {
        self.tracer = tracer
        self.queue = queue
        batchSpan = tracer.startSpan("consume \(queue)", parent: nil, kind: .consumer)
        batchSpan.attributes["messaging.system"] = "rabbitmq"
        batchSpan.attributes["messaging.operation.type"] = "receive"
        batchSpan.attributes["messaging.destination.name"] = queue
        batchSpan.attributes["messaging.batch.message_count"] = batch.count
        handling.reserveCapacity(batch.count)
        for index in batch.indices {
            let message = batch[index]
            let span = tracer.startSpan(
                "handle \(message.envelope.type)", parent: message.receivedTrace, kind: .consumer)
            span.attributes["messaging.system"] = "rabbitmq"
            span.attributes["messaging.operation.type"] = "process"
            span.attributes["messaging.destination.name"] = queue
            span.attributes["messaging.message.id"] = message.envelope.messageID
            span.attributes["messaging.message.conversation_id"] = message.envelope.correlationID
            span.attributes["messaging.rabbitmq.destination.routing_key"] = message.originalRoutingKey
            if message.attempts > 0 { span.attributes["commerce.attempts"] = message.attempts }
            batchSpan.addLink(to: message.receivedTrace ?? span.trace)
            batch[index].envelope.traceParent = span.trace.traceparent
            batch[index].envelope.traceState = span.trace.traceState
            handling[message.deliveryTag] = span
        }
    }

    /// Marks a message's handling as failed.
    func failed(_ message: IncomingMessage, _ failure: HandlingFailure) {
        handling[message.deliveryTag]?.setStatus(
            SpanStatus(code: .error, message: "\(failure.reason): \(failure.message)"))
    }

    /// The publications of `rows`, each under a `publish` span started as a child of the
    /// context stored with its row (rows without one go out as they are), and those spans.
    func publications(_ rows: [OutboxRow]) -> (publications: [BrokerLink.Publication], spans: [CommerceSpan?]) {
        var publications: [BrokerLink.Publication] = []
        var spans: [CommerceSpan?] = []
        publications.reserveCapacity(rows.count)
        spans.reserveCapacity(rows.count)
        for row in rows {
            guard
                let stored = row.message.envelope.traceParent.flatMap({
                    TraceContext(traceparent: $0, traceState: row.message.envelope.traceState)
                })
            else {
                publications.append(row.publication)
                spans.append(nil)
                continue
            }
            let span = tracer.startSpan("publish \(row.message.routingKey)", parent: stored, kind: .producer)
            span.attributes["messaging.system"] = "rabbitmq"
            span.attributes["messaging.operation.type"] = "send"
            span.attributes["messaging.destination.name"] = row.exchange
            span.attributes["messaging.message.id"] = row.message.envelope.messageID
            span.attributes["messaging.message.conversation_id"] = row.message.envelope.correlationID
            var message = row.message
            message.envelope.traceParent = span.trace.traceparent
            publications.append(
                BrokerLink.Publication(
                    exchange: row.exchange, routingKey: message.routingKey, properties: message.properties,
                    body: message.body))
            spans.append(span)
        }
        return (publications, spans)
    }

    /// Ends the `publish` spans with what the broker answered (`nil`: the publish failed as a whole).
    static func endPublishing(_ spans: [CommerceSpan?], outcomes: [AMQPConnection.PublishOutcome]?) {
        for (index, span) in spans.enumerated() {
            guard let span else { continue }
            let outcome = outcomes.flatMap { index < $0.count ? $0[index] : nil }
            if outcome != .confirmed {
                span.setStatus(
                    SpanStatus(code: .error, message: outcome.map { "\($0)" } ?? "the publish failed as a whole"))
            }
            span.end()
        }
    }

    /// Ends every `handle` span, then the batch's.
    func end() {
        for span in handling.values { span.end() }
        batchSpan.end()
    }
}
