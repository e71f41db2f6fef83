import Foundation

/// How to reach and log in to a RabbitMQ broker.
///
/// ``endpoints`` is a list: ``AMQPConnection`` tries them in turn, so losing one node of a
/// cluster costs a reconnect, not an outage (docs/architecture.md, "A message's path").
public struct AMQPConfiguration: Sendable, CustomStringConvertible {
    /// One broker address.
    public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int
        public init(host: String, port: Int = 5672) {
            self.host = host
            self.port = port
        }
        public var description: String { "\(host):\(port)" }
    }

    /// TLS settings (`amqps://`), applied through rabbitmq-c's `amqp_ssl_socket`.
    public struct TLS: Sendable {
        /// PEM file of the certificate authorities to trust; `nil` uses none (peer unverified).
        public var caCertificatePath: String?
        /// Client certificate and key (PEM) for mutual TLS.
        public var certificatePath: String?
        public var keyPath: String?
        public var verifyPeer: Bool
        public var verifyHostname: Bool
        public init(
            caCertificatePath: String? = nil, certificatePath: String? = nil, keyPath: String? = nil,
            verifyPeer: Bool = true, verifyHostname: Bool = true
        ) {
            self.caCertificatePath = caCertificatePath
            self.certificatePath = certificatePath
            self.keyPath = keyPath
            self.verifyPeer = verifyPeer
            self.verifyHostname = verifyHostname
        }
    }

    public var endpoints: [Endpoint]
    public var virtualHost: String
    public var username: String
    /// Never logged: ``description`` leaves it out.
    public var password: String
    /// Heartbeat interval in seconds; 0 disables heartbeats (do not, in production: a dead peer
    /// would go unnoticed). The broker may negotiate it down.
    public var heartbeat: Int
    public var connectTimeout: Duration
    /// Deadline of each synchronous call (declare, bind, consume …); a dead peer cannot hang it.
    public var rpcTimeout: Duration
    public var tls: TLS?
    /// Shown by `rabbitmqctl list_connections client_properties`.
    public var connectionName: String
    public var frameMax: Int
    /// The largest message body a consumer on this connection accepts, or `nil` for no limit. A
    /// delivery with a larger body is never assembled in memory: its frames are dropped as they
    /// arrive and it is rejected without requeue, so set it only for queues with a dead-letter
    /// exchange (every worker queue has one), which then keep the message whole. See
    /// ``AMQPConnection/takeRefusedDeliveries()``.
    public var maximumBodySize: Int? = nil

    public init(
        endpoints: [Endpoint] = [Endpoint(host: "127.0.0.1")], virtualHost: String = "/",
        username: String = "guest", password: String = "guest", heartbeat: Int = 30,
        connectTimeout: Duration = .seconds(5), rpcTimeout: Duration = .seconds(30), tls: TLS? = nil,
        connectionName: String = "commerce", frameMax: Int = 131_072
    ) {
        self.endpoints = endpoints
        self.virtualHost = virtualHost
        self.username = username
        self.password = password
        self.heartbeat = heartbeat
        self.connectTimeout = connectTimeout
        self.rpcTimeout = rpcTimeout
        self.tls = tls
        self.connectionName = connectionName
        self.frameMax = frameMax
    }

    /// Parses one or more AMQP URLs separated by commas, all naming the same vhost and user:
    /// `amqp://user:password@host:5672/vhost,amqp://host2:5672/vhost`. `amqps://` turns on TLS
    /// with peer verification (port 5671 by default). The vhost is the percent-decoded path; an
    /// empty path means `/`.
    public init(urls: String, connectionName: String = "commerce") throws(AMQPError) {
        self.init(connectionName: connectionName)
        var endpoints: [Endpoint] = []
        for (index, text) in urls.split(separator: ",").enumerated() {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            guard let components = URLComponents(string: trimmed), let scheme = components.scheme,
                scheme == "amqp" || scheme == "amqps", let host = components.host, !host.isEmpty
            else {
                throw AMQPError(
                    code: .invalidState, message: "not an amqp:// or amqps:// URL (item \(index + 1))",
                    context: "parse broker URL")
            }
            let secure = scheme == "amqps"
            if secure && tls == nil { tls = TLS() }
            endpoints.append(Endpoint(host: host, port: components.port ?? (secure ? 5671 : 5672)))
            if index == 0 {
                if let user = components.user { username = user.removingPercentEncoding ?? user }
                if let password = components.password { self.password = password.removingPercentEncoding ?? password }
                let path = components.percentEncodedPath
                if path.count > 1 {
                    virtualHost = String(path.dropFirst()).removingPercentEncoding ?? String(path.dropFirst())
                }
                for item in components.queryItems ?? [] {
                    if item.name == "heartbeat", let value = item.value.flatMap(Int.init) { heartbeat = value }
                    if item.name == "connection_timeout", let value = item.value.flatMap(Int.init) {
                        connectTimeout = .milliseconds(value)
                    }
                }
            }
        }
        guard !endpoints.isEmpty else {
            throw AMQPError(code: .invalidState, message: "no broker URL given", context: "parse broker URL")
        }
        self.endpoints = endpoints
    }

    /// Endpoints, vhost and user; never the password.
    public var description: String {
        let scheme = tls == nil ? "amqp" : "amqps"
        return endpoints.map { "\(scheme)://\(username)@\($0)" }.joined(separator: ",") + " vhost=\(virtualHost)"
    }
}
