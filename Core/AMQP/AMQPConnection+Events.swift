import CRabbitMQ
import CommerceSupport
import Foundation
import Glibc

// MARK: - Events

extension AMQPConnection {
    /// Reads the next broker-initiated event, waiting at most `timeout`.
    ///
    /// Returns `nil` when the timeout passes or when `wakeDescriptor` (the non-blocking read end of
    /// a pipe another thread writes to) becomes readable; the pipe is drained. Sends heartbeats while it
    /// waits, and throws ``AMQPError/Code/heartbeatTimeout`` when the broker has been silent for
    /// two heartbeat intervals. Never spins: it blocks in `poll(2)`.
    public func nextEvent(timeout: Duration, wakeDescriptor: Int32? = nil) throws(AMQPError) -> AMQPEvent? {
        if !pendingEvents.isEmpty { return pendingEvents.removeFirst() }
        return try readEvent(timeout: timeout, wakeDescriptor: wakeDescriptor)
    }

    // Internal, not private: waitForConfirms in AMQPConnection+Publishing.swift reads through it too.
    /// Reads frames until one is an event (or, with `returnAfterAnyFrame`, until any whole frame
    /// was read, such as a confirm), the timeout passes or the wake descriptor fires.
    func readEvent(
        timeout: Duration, wakeDescriptor: Int32?, returnAfterAnyFrame: Bool = false
    ) throws(AMQPError) -> AMQPEvent? {
        let state = try liveState(context: "reading from the broker")
        let deadline = ContinuousClock.now + timeout
        while true {
            try maintainHeartbeat(state)
            // Frames rabbitmq-c already holds would not wake poll(2): take them first.
            if amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0 {
                switch try readFrame(state) {
                case .event(let event): return event
                case .other where returnAfterAnyFrame: return nil
                case .other, .incomplete: continue
                }
            }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return nil }
            // Wake at least every quarter heartbeat to send ours; TLS may buffer decrypted bytes
            // that poll(2) cannot see, so it wakes more often there.
            var slice = remaining
            if heartbeat > 0 { slice = min(slice, .milliseconds(heartbeat * 250)) }
            if configuration.tls != nil { slice = min(slice, .milliseconds(50)) }
            var descriptors = [pollfd(fd: amqp_get_sockfd(state), events: Int16(POLLIN), revents: 0)]
            if let wakeDescriptor { descriptors.append(pollfd(fd: wakeDescriptor, events: Int16(POLLIN), revents: 0)) }
            let milliseconds = max(1, Int32(clamping: slice.milliseconds))
            let ready = poll(&descriptors, nfds_t(descriptors.count), milliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                throw failConnection(
                    AMQPError(code: .socketError, message: String(cString: strerror(errno)), context: "poll"))
            }
            if descriptors.count > 1, descriptors[1].revents != 0 {
                var drain = [UInt8](repeating: 0, count: 64)
                while read(descriptors[1].fd, &drain, drain.count) > 0 {}
                return nil
            }
            if descriptors[0].revents != 0 || configuration.tls != nil {
                if descriptors[0].revents != 0 { lastActivity = .now }
                switch try readFrame(state) {
                case .event(let event): return event
                case .other where returnAfterAnyFrame: return nil
                case .other, .incomplete: continue
                }
            }
        }
    }

    /// What one non-blocking frame read produced.
    private enum FrameRead {
        /// Only part of a frame has arrived.
        case incomplete
        /// A frame that the connection handled itself (a confirm, a return, a heartbeat).
        case other
        case event(AMQPEvent)
    }

    /// Reads one frame without waiting (the caller knows data is there) and turns it into an event.
    private func readFrame(_ state: amqp_connection_state_t) throws(AMQPError) -> FrameRead {
        var frame = amqp_frame_t()
        var zero = timeval(tv_sec: 0, tv_usec: 0)
        let status = amqp_simple_wait_frame_noblock(state, &frame, &zero)
        if status == Int32(AMQP_STATUS_TIMEOUT.rawValue) { return .incomplete }
        if status != 0 { throw failConnection(AMQPError.wrapping(status: status, context: "reading a frame")) }
        lastActivity = .now
        defer { amqp_maybe_release_buffers(state) }
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { return .other }
        guard let event = try methodEvent(frame, state) else { return .other }
        return .event(event)
    }

    /// Handles a method frame; returns the event it is, if it is one.
    private func methodEvent(_ frame: amqp_frame_t, _ state: amqp_connection_state_t) throws(AMQPError) -> AMQPEvent? {
        let channel = frame.channel
        let method = frame.payload.method
        switch method.id {
        case AMQPMethod.basicDeliver:
            let deliver = method.decoded!.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            var delivery = AMQPDelivery(
                channel: channel, deliveryTag: deliver.delivery_tag, redelivered: deliver.redelivered != 0,
                exchange: String(amqpBytes: deliver.exchange), routingKey: String(amqpBytes: deliver.routing_key),
                consumerTag: String(amqpBytes: deliver.consumer_tag), properties: AMQPProperties(), body: [],
                messageCount: nil)
            let content = try readContent(
                channel: channel, context: "basic.deliver", bodyLimit: configuration.maximumBodySize)
            guard let body = content.body else {
                // Over the limit: never assembled. Rejected without requeue, the queue's
                // dead-letter exchange keeps the whole message; the owner learns of it through
                // takeRefusedDeliveries().
                try reject(channel: channel, deliveryTag: delivery.deliveryTag, requeue: false)
                refusedDeliveries.append(
                    AMQPRefusedDelivery(
                        channel: channel, deliveryTag: delivery.deliveryTag, routingKey: delivery.routingKey,
                        consumerTag: delivery.consumerTag, properties: content.properties, bodySize: content.bodySize))
                return nil
            }
            (delivery.properties, delivery.body) = (content.properties, body)
            return .delivery(delivery)
        case AMQPMethod.basicAck, AMQPMethod.basicNack:
            let acked = method.id == AMQPMethod.basicAck
            let tag: UInt64
            let multiple: Bool
            if acked {
                let ack = method.decoded!.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
                (tag, multiple) = (ack.delivery_tag, ack.multiple != 0)
            } else {
                let nack = method.decoded!.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
                (tag, multiple) = (nack.delivery_tag, nack.multiple != 0)
            }
            recordConfirm(channel: channel, tag: tag, multiple: multiple, acked: acked)
            return nil
        case AMQPMethod.basicReturn:
            let returned = method.decoded!.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let replyCode = returned.reply_code
            let replyText = String(amqpBytes: returned.reply_text)
            let properties = try readContent(channel: channel, context: "basic.return").properties
            confirms[channel]?.returned[properties.messageID ?? ""] = (replyCode, replyText)
            return nil
        case AMQPMethod.channelClose:
            let close = method.decoded!.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let error = AMQPError(
                code: .channelClosed, replyCode: close.reply_code, message: String(amqpBytes: close.reply_text),
                context: "channel \(channel)")
            var closeOK = amqp_channel_close_ok_t(dummy: 0)
            _ = amqp_send_method(state, channel, AMQPMethod.channelCloseOK, &closeOK)
            openChannels.remove(channel)
            confirms[channel] = nil
            return .channelClosed(channel: channel, error: error)
        case AMQPMethod.connectionClose:
            let close = method.decoded!.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let error = AMQPError(
                code: .connectionClosed, replyCode: close.reply_code, message: String(amqpBytes: close.reply_text),
                context: "connection to \(endpoint)")
            var closeOK = amqp_connection_close_ok_t(dummy: 0)
            _ = amqp_send_method(state, 0, AMQPMethod.connectionCloseOK, &closeOK)
            throw failConnection(error)
        case AMQPMethod.basicCancel:
            let cancel = method.decoded!.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            return .consumerCancelled(channel: channel, consumerTag: String(amqpBytes: cancel.consumer_tag))
        case AMQPMethod.connectionBlocked:
            let blocked = method.decoded!.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            isBlocked = true
            return .connectionBlocked(reason: String(amqpBytes: blocked.reason))
        case AMQPMethod.connectionUnblocked:
            isBlocked = false
            return .connectionUnblocked
        default:
            return nil
        }
    }

    /// A message's content: its properties and, unless it was over the reader's limit, its body.
    struct Content {
        var properties: AMQPProperties
        /// `nil` when the body was larger than the limit: its frames were read and dropped.
        var body: [UInt8]?
        /// The size the content header announced.
        var bodySize: UInt64
    }

    // Internal, not private: basic.get in AMQPConnection+Consuming.swift reads its content through it.
    /// Reads the content header and body frames that follow `basic.deliver`, `basic.get-ok` or
    /// `basic.return` and copies them into Swift, releasing rabbitmq-c's buffers frame by frame.
    ///
    /// With a `bodyLimit`, a body larger than it is never assembled: the header announces its size
    /// before any body frame arrives, so its frames are read off the socket and dropped one at a
    /// time, and memory stays at one frame (`frameMax`) whatever the body's size. rabbitmq-c's own
    /// `amqp_read_message` would allocate the whole body first (docs/security.md, "Size limits").
    func readContent(channel: UInt16, context: String, bodyLimit: Int? = nil) throws(AMQPError) -> Content {
        let state = try liveState(context: context)
        let header = try contentFrame(state, channel: channel, type: AMQP_FRAME_HEADER, context: context)
        let size = header.payload.properties.body_size
        let properties = AMQPProperties(
            header.payload.properties.decoded!.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee)
        let keep = bodyLimit.map { size <= UInt64($0) } ?? true
        var body: [UInt8] = []
        if keep { body.reserveCapacity(Int(clamping: size)) }
        amqp_maybe_release_buffers_on_channel(state, channel)
        var read: UInt64 = 0
        while read < size {
            let frame = try contentFrame(state, channel: channel, type: AMQP_FRAME_BODY, context: context)
            let fragment = frame.payload.body_fragment
            read += UInt64(fragment.len)
            guard read <= size else {
                throw failConnection(
                    AMQPError(
                        code: .libraryError, message: "the body frames carry more than the \(size) bytes announced",
                        context: "\(context): reading content"))
            }
            if keep, fragment.len > 0 {
                body.append(contentsOf: UnsafeRawBufferPointer(start: fragment.bytes, count: fragment.len))
            }
            amqp_maybe_release_buffers_on_channel(state, channel)
        }
        return Content(properties: properties, body: keep ? body : nil, bodySize: size)
    }

    /// The next frame on `channel`, which must be of `type` (a content header or body frame). A
    /// channel or connection close in its place is handled as the broker's failure reply.
    ///
    /// RabbitMQ writes a message's frames in one piece, but the protocol lets other channels'
    /// frames come between them: a confirm or a channel close of another channel is handled as it
    /// would be in ``nextEvent(timeout:wakeDescriptor:)`` (an event waits in `pendingEvents`);
    /// another channel's content cannot be read while this one's is, so it fails the connection,
    /// and the broker redelivers what was not acknowledged.
    private func contentFrame(
        _ state: amqp_connection_state_t, channel: UInt16, type: Int32, context: String
    ) throws(AMQPError) -> amqp_frame_t {
        while true {
            var frame = amqp_frame_t()
            let status = amqp_simple_wait_frame(state, &frame)
            if status != 0 {
                throw failConnection(AMQPError.wrapping(status: status, context: "\(context): reading content"))
            }
            lastActivity = .now
            let isMethod = frame.frame_type == UInt8(AMQP_FRAME_METHOD)
            if frame.channel != channel, isMethod,
                ![AMQPMethod.basicDeliver, AMQPMethod.basicReturn, AMQPMethod.basicGetOK].contains(
                    frame.payload.method.id)
            {
                if let event = try methodEvent(frame, state) { pendingEvents.append(event) }
                continue
            }
            if frame.channel == channel, frame.frame_type == UInt8(type) { return frame }
            if frame.channel == channel, isMethod,
                frame.payload.method.id == AMQPMethod.channelClose
                    || frame.payload.method.id == AMQPMethod.connectionClose
            {
                var reply = amqp_rpc_reply_t()
                reply.reply_type = AMQP_RESPONSE_SERVER_EXCEPTION
                reply.reply = frame.payload.method
                throw handleFailedReply(reply, context: "\(context): reading content", channel: channel)
            }
            throw failConnection(
                AMQPError.wrapping(
                    status: Int32(AMQP_STATUS_UNEXPECTED_STATE.rawValue),
                    context:
                        "\(context): frame type \(frame.frame_type) on channel \(frame.channel) where content was expected"
                ))
        }
    }

    /// The deliveries refused since the last call for a body over
    /// ``AMQPConfiguration/maximumBodySize`` (each already rejected without requeue), oldest first.
    public func takeRefusedDeliveries() -> [AMQPRefusedDelivery] {
        defer { refusedDeliveries.removeAll() }
        return refusedDeliveries
    }

    private func maintainHeartbeat(_ state: amqp_connection_state_t) throws(AMQPError) {
        guard heartbeat > 0 else { return }
        let now = ContinuousClock.now
        if now - lastActivity > .seconds(heartbeat * 2) {
            throw failConnection(
                AMQPError(
                    code: .heartbeatTimeout, message: "no frame from the broker for \(heartbeat * 2)s",
                    context: "connection to \(endpoint)"))
        }
        if now - lastHeartbeatSent >= .milliseconds(heartbeat * 500) {
            var frame = amqp_frame_t()
            frame.frame_type = UInt8(AMQP_FRAME_HEARTBEAT)
            frame.channel = 0
            let status = amqp_send_frame(state, &frame)
            if status != 0 { throw failConnection(AMQPError.wrapping(status: status, context: "sending heartbeat")) }
            lastHeartbeatSent = now
        }
    }
}
