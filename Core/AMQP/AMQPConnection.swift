import CRabbitMQ
import CommerceSupport
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
    // Settable module-wide (not `private(set)`): the event loop in AMQPConnection+Events.swift sets it.
    /// `true` while a broker resource alarm blocks publishing on this connection.
    public internal(set) var isBlocked = false
    /// `false` after a connection-level failure or ``close()``; then build a new connection.
    public private(set) var isOpen = false

    // Internal rather than private: Swift extensions in other files cannot see `private`, and the
    // topology, publishing, consuming and event extensions (AMQPConnection+*.swift) share these.
    var state: amqp_connection_state_t?
    var openChannels: Set<UInt16> = []
    private var nextChannel: UInt16 = 1
    var pendingEvents: [AMQPEvent] = []
    var confirms: [UInt16: ConfirmTracker] = [:]
    var lastHeartbeatSent = ContinuousClock.now
    var lastActivity = ContinuousClock.now
    var refusedDeliveries: [AMQPRefusedDelivery] = []

    /// Per-channel publisher-confirm bookkeeping: sequence numbers in publish order, the message
    /// ids they carried (to match `basic.return`, which carries no sequence number) and outcomes.
    struct ConfirmTracker {
        var nextSequence: UInt64 = 1
        var unconfirmed: [UInt64: String] = [:]
        var returned: [String: (UInt16, String)] = [:]
        var outcomes: [UInt64: PublishOutcome] = [:]
    }

    /// Connects to the first endpoint that answers, in the configuration's
    /// ``AMQPConfiguration/endpointOrder``, logs in and negotiates heartbeats.
    /// - Throws: ``AMQPError`` with ``AMQPError/Code/connectionFailed`` when no endpoint
    ///   answers (the message lists each endpoint's failure) or ``AMQPError/Code/loginFailed``.
    public init(configuration: AMQPConfiguration) throws(AMQPError) {
        self.configuration = configuration
        var failures: [String] = []
        var generator = SystemRandomNumberGenerator()
        for endpoint in Self.connectionOrder(configuration, using: &generator) {
            do {
                state = try Self.open(endpoint, configuration)
                self.endpoint = endpoint
                isOpen = true
                heartbeat = Int(amqp_get_heartbeat(state))
                return
            } catch {
                if error.code == .loginFailed || error.code == .invalidConfiguration { throw error }
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

    /// The order in which a connection tries `configuration`'s endpoints: the list's own, or a
    /// shuffle of it from `generator` for ``AMQPConfiguration/EndpointOrder/random``.
    public static func connectionOrder(
        _ configuration: AMQPConfiguration, using generator: inout some RandomNumberGenerator
    ) -> [AMQPConfiguration.Endpoint] {
        switch configuration.endpointOrder {
        case .listed: configuration.endpoints
        case .random: configuration.endpoints.shuffled(using: &generator)
        }
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
            try tls.validate()
            socket = amqp_ssl_socket_new(state)
            guard let socket else {
                throw AMQPError(code: .connectionFailed, message: "amqp_ssl_socket_new failed", context: context)
            }
            amqp_ssl_socket_set_verify_peer(socket, tls.verifyPeer ? 1 : 0)
            amqp_ssl_socket_set_verify_hostname(socket, tls.verifyHostname ? 1 : 0)
            // rabbitmq-c trusts no authority unless given a file (it does not load OpenSSL's
            // default paths), so with no CA file of its own the connection names the system's.
            if let ca = tls.trustedAuthorities {
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
            switch status {
            case Int32(AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue):
                error.message += ": the broker's certificate does not name host '\(endpoint.host)'"
            case Int32(AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue):
                let ca = configuration.tls?.trustedAuthorities ?? "none"
                error.message += ": the broker's certificate is not signed by an authority in \(ca)"
            default: break
            }
            throw error
        }
        if let writeTimeout = configuration.writeTimeout {
            try Self.limitWrites(of: amqp_socket_get_sockfd(socket), to: writeTimeout, context: context)
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

    /// Bounds how long a write may go unanswered on the socket `descriptor` (TLS included: the
    /// options are on the TCP socket beneath). `TCP_USER_TIMEOUT` is what ends a write to a peer
    /// that stopped reading: rabbitmq-c's socket is non-blocking and polls without a deadline,
    /// so it is the kernel that drops the connection, and the poll then reports the error.
    /// `SO_SNDTIMEO` bounds a write made while the socket is blocking.
    static func limitWrites(of descriptor: Int32, to timeout: Duration, context: String) throws(AMQPError) {
        var milliseconds = UInt32(clamping: max(1, timeout.milliseconds))
        var sendTimeout = timeval(timeout)
        let userTimeout = setsockopt(
            descriptor, Int32(IPPROTO_TCP), TCP_USER_TIMEOUT, &milliseconds, socklen_t(MemoryLayout<UInt32>.size))
        let sendTimeoutSet = setsockopt(
            descriptor, SOL_SOCKET, SO_SNDTIMEO, &sendTimeout, socklen_t(MemoryLayout<timeval>.size))
        guard userTimeout == 0, sendTimeoutSet == 0 else {
            throw AMQPError(
                code: .connectionFailed,
                message: "cannot set the socket's write deadline: \(String(cString: strerror(errno)))",
                context: context)
        }
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

    // MARK: - Replies and failure

    // Internal rather than private: every extension in AMQPConnection+*.swift calls these.
    func liveState(context: String) throws(AMQPError) -> amqp_connection_state_t {
        guard let state, isOpen else {
            throw AMQPError(code: .invalidState, message: "the connection is closed", context: context)
        }
        return state
    }

    /// Checks `amqp_get_rpc_reply` after a synchronous method.
    func checkReply(context: String, channel: UInt16?) throws(AMQPError) {
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
    func handleFailedReply(_ reply: amqp_rpc_reply_t, context: String, channel: UInt16?) -> AMQPError {
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
    func failConnection(_ error: AMQPError) -> AMQPError {
        isOpen = false
        openChannels.removeAll()
        return error
    }
}
