import Foundation

/// The metadata every message of the contract carries beside its JSON body (README.md, "The message contract").
///
/// The runtime maps it one to one onto AMQP 0-9-1: ``messageID`` → `message_id`,
/// ``correlationID`` → `correlation_id`, ``type`` → `type` (and the routing key),
/// ``timestamp`` → `timestamp` (whole seconds), ``appID`` → `app_id`, ``contentType`` →
/// `content_type`, ``causationID`` → the `causation_id` header, and ``traceParent`` and
/// ``traceState`` → the W3C `traceparent` and `tracestate` headers. This type is pure data so
/// that the contract stays free of any broker code.
public struct Envelope: Sendable, Hashable {
    /// Unique per message (a UUID string); the inbox deduplicates on it.
    public var messageID: String
    /// The saga's id: the order id, for every message of the order's saga.
    public var correlationID: String
    /// The `messageID` of the message this one reacts to; `nil` for upstream commands.
    public var causationID: String?
    /// The message type, which is also the routing key (`order.placed`).
    public var type: String
    /// When the message was created. AMQP carries whole seconds.
    public var timestamp: Date
    /// The emitting application (`order-worker`, or the upstream system's name).
    public var appID: String
    /// Always `application/json` for this contract; kept so a wrong value can be reported.
    public var contentType: String
    /// The W3C trace context the message travels in (`traceparent` header), if any: on a handled
    /// message, the span handling it; on an emitted one, the span that emitted it. Not part of
    /// the body.
    public var traceParent: String?
    /// The W3C `tracestate` header that goes with ``traceParent``.
    public var traceState: String?

    public init(
        messageID: String = Envelope.newMessageID(),
        correlationID: String,
        causationID: String? = nil,
        type: String,
        timestamp: Date = Date(),
        appID: String,
        contentType: String = "application/json",
        traceParent: String? = nil,
        traceState: String? = nil
    ) {
        self.messageID = messageID
        self.correlationID = correlationID
        self.causationID = causationID
        self.type = type
        self.timestamp = timestamp
        self.appID = appID
        self.contentType = contentType
        self.traceParent = traceParent
        self.traceState = traceState
    }

    /// A new message id: a random (version 4) UUID in lower case. Made from the system's random
    /// generator directly, because Foundation's `UUID()` opens a random device for each one and
    /// every emitted message needs an id.
    public static func newMessageID() -> String {
        var generator = SystemRandomNumberGenerator()
        var high = generator.next() as UInt64
        var low = generator.next() as UInt64
        high = (high & ~0xF000) | 0x4000  // version 4
        low = (low & ~(0xC000 << 48)) | (0x8000 << 48)  // RFC 4122 variant
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(36)
        for (index, word) in [high, low].enumerated() {
            for nibble in 0..<16 {
                let position = index * 16 + nibble
                if position == 8 || position == 12 || position == 16 || position == 20 {
                    text.append(UInt8(ascii: "-"))
                }
                text.append(digits[Int((word >> UInt64(60 - 4 * nibble)) & 0xF)])
            }
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// The envelope of a message emitted in reaction to this one: same saga, caused by this
    /// message, a new message id, in the same trace (under the span handling this one).
    public func reply(type: String, appID: String, timestamp: Date = Date()) -> Envelope {
        Envelope(
            correlationID: correlationID, causationID: messageID, type: type, timestamp: timestamp, appID: appID,
            traceParent: traceParent, traceState: traceState)
    }
}
