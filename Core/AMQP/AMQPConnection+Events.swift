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
            (delivery.properties, delivery.body) = try readContent(channel: channel, context: "basic.deliver")
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
            let (properties, _) = try readContent(channel: channel, context: "basic.return")
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

    // Internal, not private: basic.get in AMQPConnection+Consuming.swift reads its content through it.
    /// Reads the content header and body frames that follow `basic.deliver`, `basic.get-ok` or
    /// `basic.return`, copies them into Swift and frees rabbitmq-c's message.
    func readContent(channel: UInt16, context: String) throws(AMQPError) -> (AMQPProperties, [UInt8]) {
        let state = try liveState(context: context)
        var message = amqp_message_t()
        let reply = amqp_read_message(state, channel, &message, 0)
        if reply.reply_type != AMQP_RESPONSE_NORMAL {
            throw handleFailedReply(reply, context: "\(context): reading content", channel: channel)
        }
        defer { amqp_destroy_message(&message) }
        return (AMQPProperties(message.properties), [UInt8](amqpBytes: message.body))
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
