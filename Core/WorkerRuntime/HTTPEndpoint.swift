import Foundation
import Glibc
import Logging
import ServiceLifecycle

/// A minimal HTTP/1.1 endpoint for operators and probes: `GET /health` (200 when ready, 503
/// with the reasons otherwise) and `GET /metrics` (Prometheus text format).
///
/// It serves one short request per connection on a dedicated thread with blocking sockets; that
/// is all a scraper and a liveness probe need, and it keeps an HTTP server framework out of
/// every worker's build.
public final class HTTPEndpoint: Service, @unchecked Sendable {
    // @unchecked: `listener` and `boundPort` are written once in `bind()` before the accept
    // thread starts and read-only afterwards; `closed` is guarded by `lock`.
    public typealias Health = @Sendable () -> WorkerHealth
    public typealias Metrics = @Sendable () -> String

    private let host: String
    private let port: Int
    private let health: Health
    private let metrics: Metrics
    private let logger: Logger
    private var listener: Int32 = -1
    private let lock = NSLock()
    private var closed = false
    /// The port actually bound (useful with port 0).
    public private(set) var boundPort: Int = 0

    public init(host: String, port: Int, logger: Logger, health: @escaping Health, metrics: @escaping Metrics) {
        self.host = host
        self.port = port
        self.logger = logger
        self.health = health
        self.metrics = metrics
    }

    /// Binds the listening socket; called by ``run()``, or earlier to learn ``boundPort``.
    public func bind() throws {
        guard listener < 0 else { return }
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw HTTPEndpointError(message: "socket: \(String(cString: strerror(errno)))") }
        var yes: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else {
            Glibc.close(descriptor)
            throw HTTPEndpointError(message: "not an IPv4 address: \(host)")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else {
            let message = String(cString: strerror(errno))
            Glibc.close(descriptor)
            throw HTTPEndpointError(message: "cannot listen on \(host):\(port): \(message)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        boundPort = Int(UInt16(bigEndian: actual.sin_port))
        listener = descriptor
    }

    public func run() async throws {
        try bind()
        logger.info("serving /health and /metrics", metadata: ["address": "\(host):\(boundPort)"])
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
                lock.lock()
                let done = closed
                lock.unlock()
                if done { return }
                if errno == EINTR { continue }
                return
            }
            serve(client)
            Glibc.close(client)
        }
    }

    private func serve(_ client: Int32) {
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 2048)
        while request.count < 8192 {
            let count = read(client, &buffer, buffer.count)
            if count <= 0 { break }
            request += buffer[0..<count]
            if request.count >= 4, request.suffix(4) == [13, 10, 13, 10] { break }
        }
        let line = String(decoding: request.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let (status, contentType, body): (String, String, String)
        if parts.count >= 2, parts[0] == "GET" {
            switch parts[1].split(separator: "?").first.map(String.init) ?? "" {
            case "/health":
                let report = health()
                let problems = report.problems.map { "\"\(jsonEscape($0))\"" }.joined(separator: ",")
                status = report.ready ? "200 OK" : "503 Service Unavailable"
                contentType = "application/json"
                body = "{\"status\":\"\(report.ready ? "ready" : "not_ready")\",\"problems\":[\(problems)]}\n"
            case "/metrics":
                status = "200 OK"
                contentType = "text/plain; version=0.0.4"
                body = metrics()
            default:
                (status, contentType, body) = ("404 Not Found", "text/plain", "try /health or /metrics\n")
            }
        } else {
            (status, contentType, body) = ("405 Method Not Allowed", "text/plain", "only GET\n")
        }
        let payload = Array(body.utf8)
        let head =
            "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(payload.count)\r\nConnection: close\r\n\r\n"
        let response = Array(head.utf8) + payload
        var sent = 0
        while sent < response.count {
            let count = response[sent...].withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
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
