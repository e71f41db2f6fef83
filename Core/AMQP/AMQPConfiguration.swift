import Foundation

/// How to reach and log in to a RabbitMQ broker.
///
/// ``endpoints`` is a list: ``AMQPConnection`` tries them in turn, so losing one node of a
/// cluster costs a reconnect, not an outage (docs/architecture.md, "A message's path"). By
/// default each connection tries them in an order of its own (``EndpointOrder/random``), so a
/// fleet spreads over the cluster's nodes instead of piling onto the first one, and the copies
/// that lose a node spread over the others.
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
    ///
    /// Peer and host name verification are on by default. rabbitmq-c loads no trust store of its
    /// own, so with no ``caCertificatePath`` the connection trusts the system's bundle
    /// (``systemTrustStore``). docs/security.md, "TLS", lists the settings.
    public struct TLS: Sendable, Equatable {
        /// PEM file of the certificate authorities to trust; `nil` trusts the system's bundle.
        public var caCertificatePath: String?
        /// Client certificate (PEM) for mutual TLS; needs ``keyPath``.
        public var certificatePath: String?
        /// The client certificate's private key (PEM, unencrypted).
        public var keyPath: String?
        /// Check that the broker's certificate chains to a trusted authority.
        public var verifyPeer: Bool
        /// Check that the broker's certificate names the host connected to (a DNS name of its
        /// subject alternative names: rabbitmq-c compares names, so an address such as
        /// `127.0.0.1` must appear there as a DNS entry too).
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

        /// Where distributions keep the bundle of trusted authorities, in the order tried:
        /// Debian and Ubuntu, Fedora and RHEL, Alpine and macOS.
        public static let systemTrustStoreCandidates = [
            "/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem",
        ]

        /// The system's bundle of trusted authorities: the first of
        /// ``systemTrustStoreCandidates`` that exists, or `nil`.
        public static var systemTrustStore: String? {
            systemTrustStoreCandidates.first { FileManager.default.isReadableFile(atPath: $0) }
        }

        /// The authorities the connection trusts: ``caCertificatePath``, else the system's bundle.
        public var trustedAuthorities: String? { caCertificatePath ?? Self.systemTrustStore }

        /// Checks the files before any connection is tried, so that a wrong path is a
        /// configuration error at start rather than a reconnect loop.
        /// - Throws: ``AMQPError`` with ``AMQPError/Code/invalidConfiguration`` naming the
        ///   setting (`cacertfile`, `certfile`, `keyfile`) and the path.
        public func validate() throws(AMQPError) {
            func readable(_ path: String?, _ setting: String) throws(AMQPError) {
                guard let path else { return }
                guard FileManager.default.isReadableFile(atPath: path) else {
                    let problem = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
                    throw AMQPError(
                        code: .invalidConfiguration, message: "TLS \(setting) \(path) \(problem)",
                        context: "TLS settings")
                }
            }
            try readable(caCertificatePath, "CA file")
            try readable(certificatePath, "client certificate")
            try readable(keyPath, "client key")
            if (certificatePath == nil) != (keyPath == nil) {
                throw AMQPError(
                    code: .invalidConfiguration,
                    message: "a TLS client certificate needs its key, and a key its certificate",
                    context: "TLS settings")
            }
            if verifyPeer && trustedAuthorities == nil {
                throw AMQPError(
                    code: .invalidConfiguration,
                    message: "no TLS CA file given and no system trust store found (tried "
                        + Self.systemTrustStoreCandidates.joined(separator: ", ") + ")",
                    context: "TLS settings")
            }
        }
    }

    /// In which order a connection tries ``endpoints``.
    public enum EndpointOrder: String, Sendable, CaseIterable {
        /// A new random order for every connection.
        case random
        /// The order of the list, first to last (a test that must know where it connects).
        case listed
    }

    public var endpoints: [Endpoint]
    public var endpointOrder: EndpointOrder = .random
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
    /// Longest time sent data may stay unacknowledged by the broker's host, or its receive window
    /// closed, before the kernel drops the connection (`TCP_USER_TIMEOUT`, and `SO_SNDTIMEO` for
    /// a blocking write). rabbitmq-c writes without a deadline of its own, so without this a
    /// broker that stops reading (frozen, partitioned) would hold a publish or an ack for ever.
    /// `nil` leaves the system's default (about 15 minutes of retransmissions).
    public var writeTimeout: Duration? = .seconds(30)
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
    /// `amqp://user:password@host:5672/vhost,amqp://host2:5672/vhost`. A later URL that names
    /// another user, password, vhost or option than the first is refused. `amqps://` turns on TLS
    /// with peer and host name verification (port 5671 by default). The vhost is the
    /// percent-decoded path; an empty path means `/`. The first URL's query may carry
    /// `heartbeat`, `connection_timeout` (ms) and RabbitMQ's TLS parameters `cacertfile`,
    /// `certfile`, `keyfile` and `verify` (`verify_peer`, the default, or `verify_none`).
    public init(urls: String, connectionName: String = "commerce") throws(AMQPError) {
        self.init(connectionName: connectionName)
        var endpoints: [Endpoint] = []
        var schemes: Set<String> = []
        var tlsParameters: [String: String] = [:]
        var firstQuery: [String: String?] = [:]
        for (index, text) in urls.split(separator: ",").enumerated() {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            guard let components = URLComponents(string: trimmed), let scheme = components.scheme,
                scheme == "amqp" || scheme == "amqps", let host = components.host, !host.isEmpty
            else {
                throw AMQPError(
                    code: .invalidState, message: "not an amqp:// or amqps:// URL (item \(index + 1))",
                    context: "parse broker URL")
            }
            schemes.insert(scheme)
            endpoints.append(Endpoint(host: host, port: components.port ?? (scheme == "amqps" ? 5671 : 5672)))
            if index > 0 {
                // The nodes of one cluster share the user, vhost and options of the first URL; a
                // later URL may leave them out or repeat them, but not name others.
                let path = components.percentEncodedPath
                let virtualHostHere = path.count > 1 ? String(path.dropFirst()).removingPercentEncoding : nil
                var differs: [String] = []
                if let user = components.user, (user.removingPercentEncoding ?? user) != username {
                    differs.append("user")
                }
                if let password = components.password, (password.removingPercentEncoding ?? password) != self.password {
                    differs.append("password")
                }
                if let virtualHostHere, virtualHostHere != virtualHost { differs.append("vhost") }
                for item in components.queryItems ?? [] where firstQuery[item.name] != item.value {
                    differs.append(item.name)
                }
                if !differs.isEmpty {
                    throw AMQPError(
                        code: .invalidState,
                        message:
                            "URL \(index + 1) of the list names another \(differs.joined(separator: ", ")) than the "
                            + "first: every node of a cluster is reached with the first URL's user, vhost and options",
                        context: "parse broker URL")
                }
            }
            if index == 0 {
                for item in components.queryItems ?? [] { firstQuery[item.name] = item.value }
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
                    if ["cacertfile", "certfile", "keyfile", "verify"].contains(item.name) {
                        tlsParameters[item.name] = item.value ?? ""
                    }
                }
            }
        }
        // A cluster is all TLS or all plain: one plain node would carry the credentials in clear.
        if schemes.count > 1 {
            throw AMQPError(
                code: .invalidState, message: "mixes amqp:// and amqps:// URLs", context: "parse broker URL")
        }
        if schemes == ["amqps"] {
            var settings = TLS()
            settings.caCertificatePath = tlsParameters["cacertfile"]
            settings.certificatePath = tlsParameters["certfile"]
            settings.keyPath = tlsParameters["keyfile"]
            switch tlsParameters["verify"] {
            case nil, "verify_peer": break
            case "verify_none":
                settings.verifyPeer = false
                settings.verifyHostname = false
            case let other?:
                throw AMQPError(
                    code: .invalidState, message: "verify must be verify_peer or verify_none, not '\(other)'",
                    context: "parse broker URL")
            }
            tls = settings
        } else if let name = tlsParameters.keys.sorted().first {
            throw AMQPError(
                code: .invalidState, message: "\(name) is a TLS setting, but the URL is amqp:// (use amqps://)",
                context: "parse broker URL")
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
