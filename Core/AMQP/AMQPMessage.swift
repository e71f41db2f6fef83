/// A message as it was delivered by `basic.deliver` or `basic.get`, copied out of rabbitmq-c's
/// buffers (so it stays valid after the connection reuses them).
public struct AMQPDelivery: Sendable {
    /// The channel the delivery came on; acknowledge it on the same channel.
    public var channel: UInt16
    public var deliveryTag: UInt64
    public var redelivered: Bool
    public var exchange: String
    public var routingKey: String
    /// Empty for `basic.get`.
    public var consumerTag: String
    public var properties: AMQPProperties
    public var body: [UInt8]
    /// For `basic.get`: how many messages were left in the queue after this one.
    public var messageCount: UInt32?
}

/// A delivery whose body was over ``AMQPConfiguration/maximumBodySize``: read off the socket
/// frame by frame without being kept, and rejected without requeue (the queue's dead-letter
/// exchange has it, body included).
public struct AMQPRefusedDelivery: Sendable {
    public var channel: UInt16
    public var deliveryTag: UInt64
    public var routingKey: String
    public var consumerTag: String
    public var properties: AMQPProperties
    /// The body's size, from its content header.
    public var bodySize: UInt64
}

/// Something the broker sent on its own initiative, read by
/// ``AMQPConnection/nextEvent(timeout:wakeDescriptor:)``. Publisher confirms and returns are not
/// events: ``AMQPConnection/waitForConfirms(channel:timeout:)`` reports them per publish.
public enum AMQPEvent: Sendable {
    /// A message for one of this connection's consumers.
    case delivery(AMQPDelivery)
    /// The broker closed a channel (the connection is still open).
    case channelClosed(channel: UInt16, error: AMQPError)
    /// The broker cancelled a consumer (its queue was deleted, or a quorum queue moved).
    case consumerCancelled(channel: UInt16, consumerTag: String)
    /// A resource alarm (memory or disk) blocks publishing on this connection.
    case connectionBlocked(reason: String)
    /// The alarm cleared.
    case connectionUnblocked
}

/// Counts of a queue, read by a passive `queue.declare`.
public struct AMQPQueueStatus: Sendable, Hashable {
    public var name: String
    /// Messages ready for delivery (not counting unacknowledged ones).
    public var messageCount: UInt32
    public var consumerCount: UInt32
}
