import AMQP
import CommerceMessages
import CommerceTracing
import Foundation

/// A delivery as the runtime hands it to a handler: the contract's ``Envelope``, the raw body and
/// what the runtime knows about earlier attempts.
public struct IncomingMessage: Sendable {
    public var envelope: Envelope
    public var body: [UInt8]
    /// Failed attempts before this one (0 on first delivery). Read from the runtime's
    /// `x-attempts` header only when the delivery comes back from the worker's own retry queue.
    public var attempts: Int
    /// The routing key the message was first published with (its type, for contract messages).
    public var originalRoutingKey: String
    /// Whether the broker flagged this as a redelivery.
    public var redelivered: Bool
    /// Whether it came back from the worker's own retry queue (see ``Admission/Provenance``).
    public var isRetryReturn: Bool
    /// All AMQP headers, for handlers that need more than the envelope.
    public var headers: AMQPTable

    /// Runtime bookkeeping: the delivery this came from.
    let deliveryTag: UInt64
    let generation: UInt64
    let properties: AMQPProperties
    /// When the I/O thread read the delivery, for the handling-latency histogram.
    let receivedAt: ContinuousClock.Instant
    /// The W3C trace context the delivery arrived with (`traceparent`, `tracestate`), `nil` when
    /// it had none or a malformed one. The envelope's ``Envelope/traceParent`` starts as this and
    /// becomes the handling span's context when tracing is on (``BatchConsumer``).
    let receivedTrace: TraceContext?

    /// Reads the envelope from AMQP properties and headers; trusts the runtime's own headers only
    /// as ``Admission/provenance(headers:exchange:routingKey:userID:brokerUser:topology:)`` allows.
    /// `brokerUser` is the user the worker connects as.
    init(delivery: AMQPDelivery, generation: UInt64, topology: Topology, brokerUser: String) {
        let properties = delivery.properties
        let headers = properties.headers
        let provenance = Admission.provenance(
            headers: headers, exchange: delivery.exchange, routingKey: delivery.routingKey,
            userID: properties.userID, brokerUser: brokerUser, topology: topology)
        envelope = Envelope(
            messageID: properties.messageID ?? "",
            correlationID: properties.correlationID ?? "",
            causationID: headers["causation_id"]?.stringValue,
            type: properties.type ?? provenance.originalRoutingKey,
            timestamp: Date(timeIntervalSince1970: TimeInterval(properties.timestamp ?? 0)),
            appID: properties.appID ?? "",
            contentType: properties.contentType ?? "")
        // A malformed traceparent is ignored: the message is handled as one without any.
        receivedTrace = headers[TraceContext.traceparentHeader]?.stringValue.flatMap {
            TraceContext(traceparent: $0, traceState: headers[TraceContext.tracestateHeader]?.stringValue)
        }
        envelope.traceParent = receivedTrace?.traceparent
        envelope.traceState = receivedTrace?.traceState
        body = delivery.body
        attempts = provenance.attempts
        originalRoutingKey = provenance.originalRoutingKey
        redelivered = delivery.redelivered
        isRetryReturn = provenance.isRetryReturn
        self.headers = headers
        deliveryTag = delivery.deliveryTag
        self.generation = generation
        self.properties = properties
        receivedAt = .now
    }
}
