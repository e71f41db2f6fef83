/// A value in an AMQP field table: message headers and queue, exchange or consumer arguments.
///
/// Integers are sent as AMQP `long` (signed 64-bit, `l`), which RabbitMQ accepts wherever an
/// integer argument is expected (`x-message-ttl`, `x-delivery-limit`). Decoding maps every
/// integer width to ``int``.
public enum AMQPFieldValue: Sendable, Hashable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case double(Double)
    /// Seconds since the Unix epoch (`T`).
    case timestamp(UInt64)
    case bytes([UInt8])
    case array([AMQPFieldValue])
    case table([String: AMQPFieldValue])
    case decimal(scale: UInt8, value: UInt32)
    case void

    /// The string, if this is one (or bytes that are UTF-8).
    public var stringValue: String? {
        switch self {
        case .string(let value): value
        case .bytes(let bytes): String(validating: bytes, as: UTF8.self)
        default: nil
        }
    }

    /// The integer, if this is one.
    public var intValue: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }
}

/// Headers or arguments: a field table keyed by name.
public typealias AMQPTable = [String: AMQPFieldValue]

extension AMQPFieldValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}
