import CRabbitMQ

// MARK: - Topology

extension AMQPConnection {
    /// `exchange.declare`. Wraps `amqp_exchange_declare`.
    public func declareExchange(
        channel: UInt16, name: String, type: String = "topic", durable: Bool = true, autoDelete: Bool = false,
        internal isInternal: Bool = false, passive: Bool = false, arguments: AMQPTable = [:]
    ) throws(AMQPError) {
        let state = try liveState(context: "exchange.declare '\(name)'")
        let arena = CArena()
        amqp_exchange_declare(
            state, channel, arena.bytes(name), arena.bytes(type), passive ? 1 : 0, durable ? 1 : 0,
            autoDelete ? 1 : 0, isInternal ? 1 : 0, arena.table(arguments))
        try checkReply(context: "exchange.declare '\(name)'", channel: channel)
    }

    /// `exchange.delete`.
    public func deleteExchange(channel: UInt16, name: String) throws(AMQPError) {
        let state = try liveState(context: "exchange.delete '\(name)'")
        let arena = CArena()
        amqp_exchange_delete(state, channel, arena.bytes(name), 0)
        try checkReply(context: "exchange.delete '\(name)'", channel: channel)
    }

    /// `queue.declare`; returns the queue's counts. A redeclaration with different arguments is
    /// refused by the broker with 406 PRECONDITION_FAILED and closes `channel`.
    @discardableResult
    public func declareQueue(
        channel: UInt16, name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false,
        arguments: AMQPTable = [:]
    ) throws(AMQPError) -> AMQPQueueStatus {
        try queueDeclare(
            channel: channel, name: name, passive: false, durable: durable, exclusive: exclusive,
            autoDelete: autoDelete, arguments: arguments)
    }

    /// A passive `queue.declare`: the queue's ready-message and consumer counts, or 404 NOT_FOUND.
    public func queueStatus(channel: UInt16, name: String) throws(AMQPError) -> AMQPQueueStatus {
        try queueDeclare(
            channel: channel, name: name, passive: true, durable: false, exclusive: false, autoDelete: false,
            arguments: [:])
    }

    private func queueDeclare(
        channel: UInt16, name: String, passive: Bool, durable: Bool, exclusive: Bool, autoDelete: Bool,
        arguments: AMQPTable
    ) throws(AMQPError) -> AMQPQueueStatus {
        let context = "queue.declare '\(name)'"
        let state = try liveState(context: context)
        let arena = CArena()
        let ok = amqp_queue_declare(
            state, channel, arena.bytes(name), passive ? 1 : 0, durable ? 1 : 0, exclusive ? 1 : 0,
            autoDelete ? 1 : 0, arena.table(arguments))
        try checkReply(context: context, channel: channel)
        guard let ok else { throw AMQPError(code: .libraryError, message: "no declare-ok", context: context) }
        let status = AMQPQueueStatus(
            name: String(amqpBytes: ok.pointee.queue), messageCount: ok.pointee.message_count,
            consumerCount: ok.pointee.consumer_count)
        amqp_maybe_release_buffers(state)
        return status
    }

    /// `queue.bind`.
    public func bindQueue(
        channel: UInt16, queue: String, exchange: String, routingKey: String, arguments: AMQPTable = [:]
    ) throws(AMQPError) {
        let context = "queue.bind '\(queue)' to '\(exchange)' with '\(routingKey)'"
        let state = try liveState(context: context)
        let arena = CArena()
        amqp_queue_bind(
            state, channel, arena.bytes(queue), arena.bytes(exchange), arena.bytes(routingKey), arena.table(arguments))
        try checkReply(context: context, channel: channel)
    }

    /// `queue.purge`; returns how many messages were removed.
    @discardableResult
    public func purgeQueue(channel: UInt16, name: String) throws(AMQPError) -> UInt32 {
        let context = "queue.purge '\(name)'"
        let state = try liveState(context: context)
        let arena = CArena()
        let ok = amqp_queue_purge(state, channel, arena.bytes(name))
        try checkReply(context: context, channel: channel)
        let count = ok?.pointee.message_count ?? 0
        amqp_maybe_release_buffers(state)
        return count
    }

    /// `queue.delete`; returns how many messages were deleted with it.
    @discardableResult
    public func deleteQueue(
        channel: UInt16, name: String, ifUnused: Bool = false, ifEmpty: Bool = false
    ) throws(AMQPError) -> UInt32 {
        let context = "queue.delete '\(name)'"
        let state = try liveState(context: context)
        let arena = CArena()
        let ok = amqp_queue_delete(state, channel, arena.bytes(name), ifUnused ? 1 : 0, ifEmpty ? 1 : 0)
        try checkReply(context: context, channel: channel)
        let count = ok?.pointee.message_count ?? 0
        amqp_maybe_release_buffers(state)
        return count
    }
}
