import CRabbitMQ
import Foundation
import Glibc

/// One connection to a RabbitMQ broker through rabbitmq-c, with its channels.
///
/// Every method blocks and the class is **not thread-safe**: rabbitmq-c allows one thread per
/// connection, so an instance is confined to the thread that made it (it is deliberately not
/// `Sendable`). Never call it from Swift's cooperative thread pool.
///
/// Broker-initiated frames (deliveries, channel closes, resource alarms) are read with
/// ``nextEvent(timeout:wakeDescriptor:)``; publisher confirms and `basic.return`s are tracked per
/// channel and read with ``waitForConfirms(channel:timeout:)``. Heartbeats are sent and checked
/// inside those two calls, so a connection whose owner stops calling them for longer than two
/// heartbeat intervals is closed by the broker: callers that do slow work run it on another
/// thread and keep this one pumping.
///
/// The handle is freed exactly once, in ``close()`` or in `deinit`: `amqp_connection_close`,
/// then `amqp_destroy_connection` (which also frees the socket).
public final class AMQPConnection {
    /// The outcome of one publish under publisher confirms.
    public enum PublishOutcome: Sendable, Equatable {
        /// `basic.ack`: the broker has the message (on disk, for persistent messages to durable queues).
        case confirmed
        /// `basic.nack`: the broker could not take the message.
        case refused
        /// `basic.return` then `basic.ack`: no queue was bound for the routing key.
        case returned(replyCode: UInt16, replyText: String)
    }

    public let configuration: AMQPConfiguration
    /// The endpoint this connection reached.
    public let endpoint: AMQPConfiguration.Endpoint
    /// The heartbeat interval the broker agreed to, in seconds (0 = none).
    public private(set) var heartbeat: Int = 0
    /// `true` while a broker resource alarm blocks publishing on this connection.
    public private(set) var isBlocked = false
    /// `false` after a connection-level failure or ``close()``; then build a new connection.
    public private(set) var isOpen = false

    private var state: amqp_connection_state_t?
    private var openChannels: Set<UInt16> = []
    private var nextChannel: UInt16 = 1
    private var pendingEvents: [AMQPEvent] = []
    private var confirms: [UInt16: ConfirmTracker] = [:]
    private var lastHeartbeatSent = ContinuousClock.now
    private var lastActivity = ContinuousClock.now

    /// Per-channel publisher-confirm bookkeeping: sequence numbers in publish order, the message
    /// ids they carried (to match `basic.return`, which carries no sequence number) and outcomes.
    private struct ConfirmTracker {
        var nextSequence: UInt64 = 1
        var unconfirmed: [UInt64: String] = [:]
        var returned: [String: (UInt16, String)] = [:]
        var outcomes: [UInt64: PublishOutcome] = [:]
    }

    /// Connects to the first endpoint that answers, logs in and negotiates heartbeats.
    /// - Throws: ``AMQPError`` with ``AMQPError/Code/connectionFailed`` when no endpoint
    ///   answers (the message lists each endpoint's failure) or ``AMQPError/Code/loginFailed``.
    public init(configuration: AMQPConfiguration) throws(AMQPError) {
        self.configuration = configuration
        var failures: [String] = []
        for endpoint in configuration.endpoints {
            do {
                state = try Self.open(endpoint, configuration)
                self.endpoint = endpoint
                isOpen = true
                heartbeat = Int(amqp_get_heartbeat(state))
                return
            } catch {
                if error.code == .loginFailed { throw error }
                failures.append("\(endpoint): \(error.message)")
            }
        }
        throw AMQPError(
            code: .connectionFailed, message: failures.joined(separator: "; "),
            context: "connect \(configuration)")
    }

    deinit {
        close()
    }

    private static func open(
        _ endpoint: AMQPConfiguration.Endpoint, _ configuration: AMQPConfiguration
    ) throws(AMQPError) -> amqp_connection_state_t {
        let context = "connect \(endpoint)"
        guard let state = amqp_new_connection() else {
            throw AMQPError(code: .libraryError, message: "amqp_new_connection failed", context: context)
        }
        var handedOver = false
        defer { if !handedOver { amqp_destroy_connection(state) } }

        let socket: OpaquePointer?
        if let tls = configuration.tls {
            socket = amqp_ssl_socket_new(state)
            guard let socket else {
                throw AMQPError(code: .connectionFailed, message: "amqp_ssl_socket_new failed", context: context)
            }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
            if let ca = tls.caCertificatePath {
                let status = amqp_ssl_socket_set_cacert(socket, ca)
                if status != 0 { throw AMQPError.wrapping(status: status, context: "\(context): CA file \(ca)") }
            }
            if let certificate = tls.certificatePath, let key = tls.keyPath {
                let status = amqp_ssl_socket_set_key(socket, certificate, key)
                if status != 0 { throw AMQPError.wrapping(status: status, context: "\(context): client key") }
            }
        } else {
            socket = amqp_tcp_socket_new(state)
            guard socket != nil else {
                throw AMQPError(code: .connectionFailed, message: "amqp_tcp_socket_new failed", context: context)
            }
        }
        var connectTimeout = timeval(configuration.connectTimeout)
        let status = amqp_socket_open_noblock(socket, endpoint.host, Int32(endpoint.port), &connectTimeout)
        if status != 0 {
            var error = AMQPError.wrapping(status: status, context: context)
            error.code = .connectionFailed
            throw error
        }
        var rpcTimeout = timeval(configuration.rpcTimeout)
        amqp_set_rpc_timeout(state, &rpcTimeout)
        amqp_set_handshake_timeout(state, &connectTimeout)

        // Client properties: the capabilities table makes the broker send connection.blocked
        // and basic.nack; connection_name names us in `rabbitmqctl list_connections`.
        let arena = CArena()
        let capabilities: AMQPTable = [
            "publisher_confirms": true, "basic.nack": true, "consumer_cancel_notify": true,
            "connection.blocked": true, "authentication_failure_close": true,
        ]
        var properties = arena.table([
            "connection_name": .string(configuration.connectionName), "product": "commerce (rabbitmq-c)",
            "capabilities": .table(capabilities),
        ])
        let reply = CRabbitMQ_login_plain_with_properties(
            state, configuration.virtualHost, 0, Int32(configuration.frameMax), Int32(configuration.heartbeat),
            &properties, configuration.username, configuration.password)
        if reply.reply_type != AMQP_RESPONSE_NORMAL {
            var error = AMQPError.wrapping(
                reply: reply, context: "login to \(endpoint) vhost \(configuration.virtualHost)")
            if error.code != .socketError || reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION {
                error.code = .loginFailed
            }
            throw error
        }
        handedOver = true
        return state
    }

    /// Closes the connection politely (`connection.close`) and frees the handle. Idempotent.
    public func close() {
        guard let state else { return }
        if isOpen {
            _ = amqp_connection_close(state, AMQP_REPLY_SUCCESS)
        }
        amqp_destroy_connection(state)
        self.state = nil
        isOpen = false
        openChannels.removeAll()
    }

    /// The socket's file descriptor, for `poll`.
    public var socketDescriptor: Int32 {
        guard let state else { return -1 }
        return amqp_get_sockfd(state)
    }

    // MARK: - Channels

    /// Opens a channel and returns its number.
    public func openChannel() throws(AMQPError) -> UInt16 {
        let state = try liveState(context: "channel.open")
        var channel = nextChannel
        while openChannels.contains(channel) { channel = channel &+ 1 == 0 ? 1 : channel &+ 1 }
        nextChannel = channel &+ 1 == 0 ? 1 : channel &+ 1
        amqp_channel_open(state, channel)
        try checkReply(context: "channel.open \(channel)", channel: nil)
        openChannels.insert(channel)
        return channel
    }

    /// Closes a channel; a channel the broker already closed is just forgotten.
    public func closeChannel(_ channel: UInt16) {
        guard let state, isOpen, openChannels.remove(channel) != nil else { return }
        confirms[channel] = nil
        _ = amqp_channel_close(state, channel, AMQP_REPLY_SUCCESS)
        amqp_maybe_release_buffers(state)
    }

    /// Whether `channel` is open (the broker has not closed it).
    public func isChannelOpen(_ channel: UInt16) -> Bool { openChannels.contains(channel) }

    // MARK: - Topology

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

    // MARK: - Publishing

    /// Puts `channel` in publisher-confirm mode (`confirm.select`).
    public func enableConfirms(channel: UInt16) throws(AMQPError) {
        let state = try liveState(context: "confirm.select")
        amqp_confirm_select(state, channel)
        try checkReply(context: "confirm.select on channel \(channel)", channel: channel)
        confirms[channel] = ConfirmTracker()
    }

    /// Publishes one message (`basic.publish`). Returns its confirm sequence number when the
    /// channel is in confirm mode (0 otherwise). The publish is asynchronous: an error the broker
    /// raises for it (404 on a missing exchange) arrives later, from ``waitForConfirms(channel:timeout:)``.
    @discardableResult
    public func publish(
        channel: UInt16, exchange: String, routingKey: String, mandatory: Bool = true,
        properties: AMQPProperties, body: [UInt8]
    ) throws(AMQPError) -> UInt64 {
        let context = "basic.publish to '\(exchange)' with '\(routingKey)'"
        let state = try liveState(context: context)
        guard openChannels.contains(channel) else {
            throw AMQPError(code: .invalidState, message: "channel \(channel) is closed", context: context)
        }
        let arena = CArena()
        var cProperties = properties.cProperties(in: arena)
        let status = body.withUnsafeBytes { buffer in
            amqp_basic_publish(
                state, channel, arena.bytes(exchange), arena.bytes(routingKey), mandatory ? 1 : 0, 0, &cProperties,
                amqp_bytes_t(len: buffer.count, bytes: UnsafeMutableRawPointer(mutating: buffer.baseAddress)))
        }
        if status != 0 { throw failConnection(AMQPError.wrapping(status: status, context: context)) }
        guard var tracker = confirms[channel] else { return 0 }
        let sequence = tracker.nextSequence
        tracker.nextSequence += 1
        tracker.unconfirmed[sequence] = properties.messageID ?? ""
        confirms[channel] = tracker
        return sequence
    }

    /// Waits until every message published on `channel` so far is confirmed or refused, reading
    /// (and queueing for ``nextEvent(timeout:wakeDescriptor:)``) whatever else arrives meanwhile.
    /// Returns the outcome of each sequence number and forgets them.
    /// - Throws: ``AMQPError/Code/timeout`` past `timeout` (outcomes so far are kept),
    ///   ``AMQPError/Code/channelClosed`` when the broker closed the channel (for example 404 for
    ///   a publish to a missing exchange), or a connection-level error.
    public func waitForConfirms(channel: UInt16, timeout: Duration) throws(AMQPError) -> [UInt64: PublishOutcome] {
        let context = "waiting for publisher confirms on channel \(channel)"
        let deadline = ContinuousClock.now + timeout
        while let tracker = confirms[channel], !tracker.unconfirmed.isEmpty {
            if let closed = takeChannelClose(channel) { throw closed }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero {
                throw AMQPError(
                    code: .timeout, message: "\(tracker.unconfirmed.count) publish(es) unconfirmed after \(timeout)",
                    context: context)
            }
            // Returns after every frame, so a confirm ends the wait at once.
            if let event = try readEvent(timeout: remaining, wakeDescriptor: nil, returnAfterAnyFrame: true) {
                pendingEvents.append(event)
            }
        }
        if let closed = takeChannelClose(channel) { throw closed }
        guard var tracker = confirms[channel] else {
            throw AMQPError(code: .invalidState, message: "channel \(channel) is not in confirm mode", context: context)
        }
        let outcomes = tracker.outcomes
        tracker.outcomes = [:]
        tracker.returned = [:]
        confirms[channel] = tracker
        return outcomes
    }

    /// A queued `channelClosed` event for `channel`, removed from the queue.
    private func takeChannelClose(_ channel: UInt16) -> AMQPError? {
        guard
            let index = pendingEvents.firstIndex(where: {
                if case .channelClosed(channel, _) = $0 { return true }
                return false
            }), case .channelClosed(_, let error) = pendingEvents.remove(at: index)
        else { return nil }
        return error
    }

    // MARK: - Consuming

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
        (delivery.properties, delivery.body) = try readContent(channel: channel, context: context)
        return delivery
    }

    // MARK: - Events

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

    /// Reads frames until one is an event (or, with `returnAfterAnyFrame`, until any whole frame
    /// was read, such as a confirm), the timeout passes or the wake descriptor fires.
    private func readEvent(
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

    private func recordConfirm(channel: UInt16, tag: UInt64, multiple: Bool, acked: Bool) {
        guard var tracker = confirms[channel] else { return }
        let tags = multiple ? tracker.unconfirmed.keys.filter { $0 <= tag } : [tag]
        for sequence in tags {
            guard let messageID = tracker.unconfirmed.removeValue(forKey: sequence) else { continue }
            if !acked {
                tracker.outcomes[sequence] = .refused
            } else if let (code, text) = tracker.returned.removeValue(forKey: messageID) {
                tracker.outcomes[sequence] = .returned(replyCode: code, replyText: text)
            } else {
                tracker.outcomes[sequence] = .confirmed
            }
        }
        confirms[channel] = tracker
    }

    /// Reads the content header and body frames that follow `basic.deliver`, `basic.get-ok` or
    /// `basic.return`, copies them into Swift and frees rabbitmq-c's message.
    private func readContent(channel: UInt16, context: String) throws(AMQPError) -> (AMQPProperties, [UInt8]) {
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

    // MARK: - Replies and failure

    private func liveState(context: String) throws(AMQPError) -> amqp_connection_state_t {
        guard let state, isOpen else {
            throw AMQPError(code: .invalidState, message: "the connection is closed", context: context)
        }
        return state
    }

    /// Checks `amqp_get_rpc_reply` after a synchronous method.
    private func checkReply(context: String, channel: UInt16?) throws(AMQPError) {
        guard let state else { return }
        let reply = amqp_get_rpc_reply(state)
        if reply.reply_type == AMQP_RESPONSE_NORMAL {
            lastActivity = .now
            return
        }
        throw handleFailedReply(reply, context: context, channel: channel)
    }

    /// Turns a failed reply into an error and completes the close handshake the broker started,
    /// so the connection stays usable after a channel-level refusal.
    private func handleFailedReply(_ reply: amqp_rpc_reply_t, context: String, channel: UInt16?) -> AMQPError {
        let error = AMQPError.wrapping(reply: reply, context: context)
        guard let state else { return error }
        if reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, reply.reply.id == AMQPMethod.channelClose,
            let channel
        {
            var closeOK = amqp_channel_close_ok_t(dummy: 0)
            _ = amqp_send_method(state, channel, AMQPMethod.channelCloseOK, &closeOK)
            openChannels.remove(channel)
            confirms[channel] = nil
            amqp_maybe_release_buffers(state)
            return error
        }
        if reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION, reply.reply.id == AMQPMethod.connectionClose {
            var closeOK = amqp_connection_close_ok_t(dummy: 0)
            _ = amqp_send_method(state, 0, AMQPMethod.connectionCloseOK, &closeOK)
        }
        return failConnection(error)
    }

    /// Marks the connection dead after a connection-level failure and returns the error.
    private func failConnection(_ error: AMQPError) -> AMQPError {
        isOpen = false
        openChannels.removeAll()
        return error
    }
}

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
