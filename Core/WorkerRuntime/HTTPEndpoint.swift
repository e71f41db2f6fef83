import CommerceSupport
import Foundation
import Glibc
import Logging
import ServiceLifecycle

/// A minimal HTTP/1.1 endpoint for operators and probes: `GET /health/ready` (200 when ready, 503
/// with the reasons otherwise; `/health` is the same), `GET /health/live` (200 unless a consumer's
/// loop is stuck) and `GET /metrics` (Prometheus text format). docs/architecture.md, "Metrics and
/// health", says what each answer means and which probe to point at it.
///
/// Each connection is served on a thread of its own with blocking sockets, one short request per
/// connection, so a slow client holds only its own thread: the whole request must arrive within
/// ``requestDeadline`` and the answer be written within it, and at most ``maximumClients``
/// connections are served at once (more are answered 503 at once). That is all scrapers and
/// probes need, and it keeps an HTTP server framework out of every worker's build.
public final class HTTPEndpoint: Service, @unchecked Sendable {
    // @unchecked: `listener` and `boundPort` are written once in `bind()` before the accept
    // thread starts and read-only afterwards; `closed` and `clients` are guarded by `lock`.
    public typealias Health = @Sendable () -> WorkerHealth
    public typealias Metrics = @Sendable () -> String

    /// Time a client has to send its request, and the endpoint to write the answer.
    public static let requestDeadline: Duration = .seconds(2)
    /// Connections served at once; the next ones get 503 without being read.
    public static let maximumClients = 8

    private let host: String
    private let port: Int
    private let health: Health
    private let liveness: Health
    private let metrics: Metrics
    private let logger: Logger
    private var listener: Int32 = -1
    private let lock = NSLock()
    private var closed = false
    private var clients = 0
    /// The port actually bound (useful with port 0).
    public private(set) var boundPort: Int = 0

    /// `host` is an IPv4 or IPv6 literal (`127.0.0.1`, `0.0.0.0`, `::1`, `::`).
    public init(
        host: String, port: Int, logger: Logger, health: @escaping Health, liveness: @escaping Health,
        metrics: @escaping Metrics
    ) {
        self.host = host
        self.port = port
        self.logger = logger
        self.health = health
        self.liveness = liveness
        self.metrics = metrics
    }

    /// Binds the listening socket; called by ``run()``, or earlier to learn ``boundPort``.
    public func bind() throws {
        guard listener < 0 else { return }
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, "\(port)", &hints, &found)
        guard status == 0, let info = found else {
            throw HTTPEndpointError(
                message: "not an IPv4 or IPv6 address: \(host) (\(String(cString: gai_strerror(status))))")
        }
        defer { freeaddrinfo(found) }
        let descriptor = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard descriptor >= 0 else { throw HTTPEndpointError(message: "socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        guard Glibc.bind(descriptor, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0, listen(descriptor, 64) == 0
        else {
            let message = String(cString: strerror(errno))
            Glibc.close(descriptor)
            throw HTTPEndpointError(message: "cannot listen on \(host):\(port): \(message)")
        }
        var actual = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        let family = actual.ss_family
        boundPort = withUnsafePointer(to: &actual) { pointer in
            if family == sa_family_t(AF_INET6) {
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    Int(UInt16(bigEndian: $0.pointee.sin6_port))
                }
            }
            return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                Int(UInt16(bigEndian: $0.pointee.sin_port))
            }
        }
        listener = descriptor
    }

    public func run() async throws {
        try bind()
        let address = host.contains(":") ? "[\(host)]:\(boundPort)" : "\(host):\(boundPort)"
        logger.info("serving /health/live, /health/ready and /metrics", metadata: ["address": "\(address)"])
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "http-endpoint"
        thread.start()
        // Returns on graceful shutdown, or throws at once on cancellation: either way we close.
        try? await gracefulShutdown()
        lock.withLock { closed = true }
        // Unblocks accept(2) in the accept thread.
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if lock.withLock({ closed }) { return }
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            let admitted = lock.withLock {
                guard clients < Self.maximumClients else { return false }
                clients += 1
                return true
            }
            guard admitted else {
                respond(client, ("503 Service Unavailable", "text/plain", "busy: too many clients at once\n"))
                Glibc.close(client)
                continue
            }
            let serving = Thread { [self] in
                serve(client)
                Glibc.close(client)
                lock.withLock { clients -= 1 }
            }
            serving.name = "http-client"
            serving.start()
        }
    }

    private func serve(_ client: Int32) {
        guard let line = readRequestLine(client, deadline: .now + Self.requestDeadline) else { return }
        let parts = line.split(separator: " ")
        guard parts.count >= 2, parts[0] == "GET" else {
            respond(client, ("405 Method Not Allowed", "text/plain", "only GET\n"))
            return
        }
        switch parts[1].split(separator: "?").first.map(String.init) ?? "" {
        case "/health", "/health/ready":
            respond(client, report(health(), good: "ready", bad: "not_ready"))
        case "/health/live":
            respond(client, report(liveness(), good: "live", bad: "stuck"))
        case "/metrics":
            respond(client, ("200 OK", "text/plain; version=0.0.4", metrics()))
        default:
            respond(client, ("404 Not Found", "text/plain", "try /health/live, /health/ready or /metrics\n"))
        }
    }

    /// Reads until the end of the request head; `nil` if the client closed, sent more than 8 KiB,
    /// or did not finish by `deadline` (however slowly it trickles bytes in).
    private func readRequestLine(_ client: Int32, deadline: ContinuousClock.Instant) -> String? {
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192 {
            let remaining = deadline - .now
            guard remaining > .zero else { return nil }
            var descriptor = pollfd(fd: client, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, max(1, Int32(clamping: remaining.milliseconds)))
            if ready < 0, errno == EINTR { continue }
            guard ready > 0 else { return nil }
            let count = read(client, &buffer, buffer.count)
            if count <= 0 { return nil }
            request += buffer[0..<count]
            if request.count >= 4, request.suffix(4) == [13, 10, 13, 10] { break }
            if request.count >= 2, request.suffix(2) == [10, 10] { break }
        }
        return String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
    }

    private func report(_ health: WorkerHealth, good: String, bad: String) -> (String, String, String) {
        let problems = health.problems.map { "\"\(jsonEscape($0))\"" }.joined(separator: ",")
        return (
            health.ready ? "200 OK" : "503 Service Unavailable", "application/json",
            "{\"status\":\"\(health.ready ? good : bad)\",\"problems\":[\(problems)]}\n"
        )
    }

    private func respond(_ client: Int32, _ answer: (status: String, contentType: String, body: String)) {
        var timeout = timeval(tv_sec: Int(Self.requestDeadline.milliseconds / 1000), tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let payload = Array(answer.body.utf8)
        let head =
            "HTTP/1.1 \(answer.status)\r\nContent-Type: \(answer.contentType)\r\nContent-Length: \(payload.count)\r\n"
            + "Connection: close\r\n\r\n"
        let response = Array(head.utf8) + payload
        var sent = 0
        while sent < response.count {
            let count = response[sent...].withUnsafeBytes {
                send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
            }
            if count <= 0 { break }
            sent += count
        }
    }

    private func jsonEscape(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: " ")
    }
}

/// The endpoint could not start.
public struct HTTPEndpointError: Error, CustomStringConvertible {
    public var message: String
    public var description: String { "HTTP endpoint: \(message)" }
}
