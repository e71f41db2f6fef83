import CRabbitMQ

// MARK: - Consuming

extension AMQPConnection {
    /// `basic.qos`: at most `count` unacknowledged deliveries on `channel`.
    public func setPrefetch(channel: UInt16, count: UInt16) throws(AMQPError) {
        let state = try liveState(context: "basic.qos")
        amqp_basic_qos(state, channel, 0, count, 0)
        try checkReply(context: "basic.qos \(count) on channel \(channel)", channel: channel)
    }

    /// `basic.consume` with manual acknowledgements; returns the consumer tag. Deliveries arrive
    /// through ``nextEvent(timeout:wakeDescriptor:)``.
    @discardableResult
    public func consume(
        channel: UInt16, queue: String, consumerTag: String = "", exclusive: Bool = false, arguments: AMQPTable = [:]
    ) throws(AMQPError) -> String {
        let context = "basic.consume '\(queue)'"
        let state = try liveState(context: context)
        let arena = CArena()
        let ok = amqp_basic_consume(
            state, channel, arena.bytes(queue), arena.bytes(consumerTag), 0, 0, exclusive ? 1 : 0,
            arena.table(arguments))
        try checkReply(context: context, channel: channel)
        let tag = ok.map { String(amqpBytes: $0.pointee.consumer_tag) } ?? consumerTag
        amqp_maybe_release_buffers(state)
        return tag
    }

    /// `basic.cancel`: stop a consumer. Deliveries already sent stay unacknowledged until acked,
    /// nacked or the channel closes.
    public func cancel(channel: UInt16, consumerTag: String) throws(AMQPError) {
        let state = try liveState(context: "basic.cancel")
        let arena = CArena()
        amqp_basic_cancel(state, channel, arena.bytes(consumerTag))
        try checkReply(context: "basic.cancel '\(consumerTag)'", channel: channel)
    }

    /// `basic.ack`; `multiple` acknowledges every delivery up to and including `deliveryTag`.
    public func ack(channel: UInt16, deliveryTag: UInt64, multiple: Bool = false) throws(AMQPError) {
        let state = try liveState(context: "basic.ack")
        let status = amqp_basic_ack(state, channel, deliveryTag, multiple ? 1 : 0)
        if status != 0 { throw failConnection(AMQPError.wrapping(status: status, context: "basic.ack \(deliveryTag)")) }
    }

    /// `basic.nack`; with `requeue: false` the message is dead-lettered (if the queue has a
    /// dead-letter exchange) or dropped.
    public func nack(channel: UInt16, deliveryTag: UInt64, multiple: Bool = false, requeue: Bool) throws(AMQPError) {
        let state = try liveState(context: "basic.nack")
        let status = amqp_basic_nack(state, channel, deliveryTag, multiple ? 1 : 0, requeue ? 1 : 0)
        if status != 0 {
            throw failConnection(AMQPError.wrapping(status: status, context: "basic.nack \(deliveryTag)"))
        }
    }

    /// `basic.reject` of one delivery.
    public func reject(channel: UInt16, deliveryTag: UInt64, requeue: Bool) throws(AMQPError) {
        let state = try liveState(context: "basic.reject")
        let status = amqp_basic_reject(state, channel, deliveryTag, requeue ? 1 : 0)
        if status != 0 {
            throw failConnection(AMQPError.wrapping(status: status, context: "basic.reject \(deliveryTag)"))
        }
    }

    /// `basic.get`: one message from `queue`, or `nil` when it is empty. With `autoAck: false`
    /// the caller must ack, nack or reject it on `channel`.
    public func get(channel: UInt16, queue: String, autoAck: Bool = false) throws(AMQPError) -> AMQPDelivery? {
        let context = "basic.get '\(queue)'"
        let state = try liveState(context: context)
        let arena = CArena()
        let reply = amqp_basic_get(state, channel, arena.bytes(queue), autoAck ? 1 : 0)
        if reply.reply_type != AMQP_RESPONSE_NORMAL {
            throw handleFailedReply(reply, context: context, channel: channel)
        }
        guard reply.reply.id == AMQPMethod.basicGetOK else {
            amqp_maybe_release_buffers(state)
            return nil
        }
        let ok = reply.reply.decoded!.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
        var delivery = AMQPDelivery(
            channel: channel, deliveryTag: ok.delivery_tag, redelivered: ok.redelivered != 0,
            exchange: String(amqpBytes: ok.exchange), routingKey: String(amqpBytes: ok.routing_key), consumerTag: "",
            properties: AMQPProperties(), body: [], messageCount: ok.message_count)
        let content = try readContent(channel: channel, context: context)
        (delivery.properties, delivery.body) = (content.properties, content.body ?? [])
        return delivery
    }
}
