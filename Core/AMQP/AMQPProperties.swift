import CRabbitMQ

/// The `basic` content properties of a message (AMQP 0-9-1 §1.8), as plain Swift values.
public struct AMQPProperties: Sendable, Hashable {
    public var contentType: String?
    public var contentEncoding: String?
    public var headers: AMQPTable
    /// 2 = persistent (written to disk by the broker), 1 = transient.
    public var deliveryMode: UInt8?
    public var priority: UInt8?
    public var correlationID: String?
    public var replyTo: String?
    /// Per-message TTL in milliseconds, as a decimal string (AMQP's own quirk).
    public var expiration: String?
    public var messageID: String?
    /// Seconds since the Unix epoch.
    public var timestamp: UInt64?
    public var type: String?
    public var userID: String?
    public var appID: String?

    public init(
        contentType: String? = nil, contentEncoding: String? = nil, headers: AMQPTable = [:],
        deliveryMode: UInt8? = nil, priority: UInt8? = nil, correlationID: String? = nil, replyTo: String? = nil,
        expiration: String? = nil, messageID: String? = nil, timestamp: UInt64? = nil, type: String? = nil,
        userID: String? = nil, appID: String? = nil
    ) {
        self.contentType = contentType
        self.contentEncoding = contentEncoding
        self.headers = headers
        self.deliveryMode = deliveryMode
        self.priority = priority
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.expiration = expiration
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
        self.userID = userID
        self.appID = appID
    }

    /// Property flags of `amqp_basic_properties_t` (macros in amqp_framing.h).
    private enum Flag {
        static let contentType: UInt32 = 1 << 15
        static let contentEncoding: UInt32 = 1 << 14
        static let headers: UInt32 = 1 << 13
        static let deliveryMode: UInt32 = 1 << 12
        static let priority: UInt32 = 1 << 11
        static let correlationID: UInt32 = 1 << 10
        static let replyTo: UInt32 = 1 << 9
        static let expiration: UInt32 = 1 << 8
        static let messageID: UInt32 = 1 << 7
        static let timestamp: UInt32 = 1 << 6
        static let type: UInt32 = 1 << 5
        static let userID: UInt32 = 1 << 4
        static let appID: UInt32 = 1 << 3
    }

    /// Copies decoded C properties into Swift.
    init(_ c: amqp_basic_properties_t) {
        let flags = c._flags
        func string(_ flag: UInt32, _ bytes: amqp_bytes_t) -> String? {
            flags & flag != 0 ? String(amqpBytes: bytes) : nil
        }
        self.init(
            contentType: string(Flag.contentType, c.content_type),
            contentEncoding: string(Flag.contentEncoding, c.content_encoding),
            headers: flags & Flag.headers != 0 ? AMQPTable(c.headers) : [:],
            deliveryMode: flags & Flag.deliveryMode != 0 ? c.delivery_mode : nil,
            priority: flags & Flag.priority != 0 ? c.priority : nil,
            correlationID: string(Flag.correlationID, c.correlation_id),
            replyTo: string(Flag.replyTo, c.reply_to),
            expiration: string(Flag.expiration, c.expiration),
            messageID: string(Flag.messageID, c.message_id),
            timestamp: flags & Flag.timestamp != 0 ? c.timestamp : nil,
            type: string(Flag.type, c.type),
            userID: string(Flag.userID, c.user_id),
            appID: string(Flag.appID, c.app_id))
    }

    /// Builds the C properties, with every string copied into `arena`.
    func cProperties(in arena: CArena) -> amqp_basic_properties_t {
        var c = amqp_basic_properties_t()
        var flags: UInt32 = 0
        func set(_ value: String?, _ flag: UInt32, _ field: inout amqp_bytes_t) {
            guard let value else { return }
            field = arena.bytes(value)
            flags |= flag
        }
        set(contentType, Flag.contentType, &c.content_type)
        set(contentEncoding, Flag.contentEncoding, &c.content_encoding)
        set(correlationID, Flag.correlationID, &c.correlation_id)
        set(replyTo, Flag.replyTo, &c.reply_to)
        set(expiration, Flag.expiration, &c.expiration)
        set(messageID, Flag.messageID, &c.message_id)
        set(type, Flag.type, &c.type)
        set(userID, Flag.userID, &c.user_id)
        set(appID, Flag.appID, &c.app_id)
        if !headers.isEmpty {
            c.headers = arena.table(headers)
            flags |= Flag.headers
        }
        if let deliveryMode {
            c.delivery_mode = deliveryMode
            flags |= Flag.deliveryMode
        }
        if let priority {
            c.priority = priority
            flags |= Flag.priority
        }
        if let timestamp {
            c.timestamp = timestamp
            flags |= Flag.timestamp
        }
        c._flags = flags
        return c
    }
}
