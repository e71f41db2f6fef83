import CRabbitMQ

/// An error from the broker or from rabbitmq-c, with the context a person needs to act on it.
///
/// A server refusal carries the AMQP reply code and text (for example `404 NOT_FOUND - no
/// exchange 'x' in vhost '/'` or `406 PRECONDITION_FAILED - inequivalent arg 'x-queue-type'`);
/// a library failure carries rabbitmq-c's status code. ``code`` says which kind it is, as a
/// struct with static members so that new codes do not break a caller's `switch`.
public struct AMQPError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, independent of the C status or the AMQP reply code.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The TCP or TLS connection could not be opened (refused, unresolved host, TLS failure).
        public static let connectionFailed = Code("connectionFailed")
        /// The broker refused the login (bad credentials, missing vhost, access refused).
        public static let loginFailed = Code("loginFailed")
        /// The broker closed a channel: ``AMQPError/replyCode`` and ``AMQPError/replyText`` say why.
        public static let channelClosed = Code("channelClosed")
        /// The broker closed the connection (`connection.close`), for example on shutdown.
        public static let connectionClosed = Code("connectionClosed")
        /// The socket failed or was closed under us; the connection is unusable.
        public static let socketError = Code("socketError")
        /// No frame arrived from the broker within two heartbeat intervals: the peer is gone.
        public static let heartbeatTimeout = Code("heartbeatTimeout")
        /// A synchronous call or a wait for publisher confirms ran past its deadline.
        public static let timeout = Code("timeout")
        /// The broker returned a `mandatory` message because no queue was bound for it.
        public static let unroutable = Code("unroutable")
        /// The broker refused a published message (`basic.nack` under publisher confirms).
        public static let nacked = Code("nacked")
        /// A setting is missing or wrong, found before any connection was tried (a TLS CA file
        /// that does not exist).
        public static let invalidConfiguration = Code("invalidConfiguration")
        /// A call was made on a closed connection or channel, or with invalid arguments.
        public static let invalidState = Code("invalidState")
        /// rabbitmq-c reported another failure; ``AMQPError/status`` holds its code.
        public static let libraryError = Code("libraryError")
    }

    public var code: Code
    /// The AMQP reply code of a server refusal (404, 406, 320, 403 …), when there is one.
    public var replyCode: UInt16?
    /// The server's reply text, or a description of the library failure.
    public var message: String
    /// rabbitmq-c's `amqp_status_enum` value, when the library reported the failure.
    public var status: Int32?
    /// What was being done: `"queue.declare 'orders'"`, `"connect 127.0.0.1:5672"`.
    public var context: String

    public init(code: Code, replyCode: UInt16? = nil, message: String, status: Int32? = nil, context: String) {
        self.code = code
        self.replyCode = replyCode
        self.message = message
        self.status = status
        self.context = context
    }

    /// Whether the connection this came from is still usable. After a channel-level refusal the
    /// connection lives on (open another channel); after any other failure it must be rebuilt.
    public var connectionIsUsable: Bool {
        code == .channelClosed || code == .unroutable || code == .nacked
    }

    public var description: String {
        var text = "AMQP \(code) during \(context)"
        if let replyCode { text += ": \(replyCode) \(message)" } else { text += ": \(message)" }
        return text
    }

    /// Builds the error for a failed rabbitmq-c status code (`amqp_status_enum`).
    static func wrapping(status: Int32, context: String) -> AMQPError {
        let text = String(cString: amqp_error_string2(status))
        let code: Code
        switch status {
        case Int32(AMQP_STATUS_HEARTBEAT_TIMEOUT.rawValue): code = .heartbeatTimeout
        case Int32(AMQP_STATUS_TIMEOUT.rawValue): code = .timeout
        case Int32(AMQP_STATUS_CONNECTION_CLOSED.rawValue), Int32(AMQP_STATUS_SOCKET_ERROR.rawValue),
            Int32(AMQP_STATUS_SOCKET_CLOSED.rawValue), Int32(AMQP_STATUS_TCP_ERROR.rawValue):
            code = .socketError
        case Int32(AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED.rawValue), Int32(AMQP_STATUS_SSL_ERROR.rawValue),
            Int32(AMQP_STATUS_SSL_CONNECTION_FAILED.rawValue), Int32(AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue),
            Int32(AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue):
            code = .connectionFailed
        default: code = .libraryError
        }
        return AMQPError(code: code, message: text, status: status, context: context)
    }

    /// Builds the error for an `amqp_rpc_reply_t` that is not `AMQP_RESPONSE_NORMAL`.
    /// A server exception is decoded into its reply code and text.
    static func wrapping(reply: amqp_rpc_reply_t, context: String) -> AMQPError {
        switch reply.reply_type {
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return wrapping(status: reply.library_error, context: context)
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            switch reply.reply.id {
            case AMQPMethod.channelClose:
                let close = reply.reply.decoded!.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                return AMQPError(
                    code: .channelClosed, replyCode: close.reply_code, message: String(amqpBytes: close.reply_text),
                    context: context)
            case AMQPMethod.connectionClose:
                let close = reply.reply.decoded!.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                return AMQPError(
                    code: .connectionClosed, replyCode: close.reply_code,
                    message: String(amqpBytes: close.reply_text), context: context)
            default:
                return AMQPError(
                    code: .libraryError, message: "unexpected server method 0x\(String(reply.reply.id, radix: 16))",
                    context: context)
            }
        default:
            return AMQPError(code: .libraryError, message: "missing RPC reply", context: context)
        }
    }
}

/// AMQP method numbers the wrapper dispatches on. rabbitmq-c defines them as macros with casts,
/// which Swift does not import.
enum AMQPMethod {
    static let connectionClose: amqp_method_number_t = 0x000A_0032
    static let connectionCloseOK: amqp_method_number_t = 0x000A_0033
    static let connectionBlocked: amqp_method_number_t = 0x000A_003C
    static let connectionUnblocked: amqp_method_number_t = 0x000A_003D
    static let channelClose: amqp_method_number_t = 0x0014_0028
    static let channelCloseOK: amqp_method_number_t = 0x0014_0029
    static let basicCancel: amqp_method_number_t = 0x003C_001E
    static let basicCancelOK: amqp_method_number_t = 0x003C_001F
    static let basicReturn: amqp_method_number_t = 0x003C_0032
    static let basicDeliver: amqp_method_number_t = 0x003C_003C
    static let basicGetOK: amqp_method_number_t = 0x003C_0047
    static let basicGetEmpty: amqp_method_number_t = 0x003C_0048
    static let basicAck: amqp_method_number_t = 0x003C_0050
    static let basicNack: amqp_method_number_t = 0x003C_0078
}

extension String {
    /// Copies an `amqp_bytes_t` (not NUL-terminated) into a Swift string, replacing bad UTF-8.
    init(amqpBytes bytes: amqp_bytes_t) {
        guard let base = bytes.bytes, bytes.len > 0 else {
            self = ""
            return
        }
        self = String(decoding: UnsafeRawBufferPointer(start: base, count: bytes.len), as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    /// Copies an `amqp_bytes_t` into a byte array.
    init(amqpBytes bytes: amqp_bytes_t) {
        guard let base = bytes.bytes, bytes.len > 0 else {
            self = []
            return
        }
        self = Array(UnsafeRawBufferPointer(start: base, count: bytes.len))
    }
}
