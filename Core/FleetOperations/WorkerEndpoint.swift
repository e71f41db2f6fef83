import Foundation
import Glibc

/// A worker's HTTP endpoint (`/health`, `/metrics`) at `http://host:port`, for `commerce status` (``FleetStatus``).
///
/// One blocking `GET` per call with a connect and read timeout, so that a copy that does not
/// answer costs at most `timeout`. Plain HTTP only, as the workers serve it.
public struct WorkerEndpoint: Sendable, Hashable {
    public var host: String
    public var port: Int

    /// The URL as given back to the user (`http://host:port`).
    public var url: String { "http://\(host):\(port)" }

    /// Parses `http://host:port` (a trailing `/` is allowed); `nil` for anything else.
    public init?(url text: String) {
        guard let components = URLComponents(string: text), components.scheme?.lowercased() == "http",
            let host = components.host, !host.isEmpty, let port = components.port, (1...65535).contains(port),
            components.path.isEmpty || components.path == "/", components.query == nil, components.user == nil
        else { return nil }
        self.host = host
        self.port = port
    }

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `GET path`: the status code and body, or an error saying why there was no answer. With
    /// `authorization`, the request carries it as its `Authorization` header (the RabbitMQ
    /// management API's Basic credentials); a chunked body is joined.
    public func get(_ path: String, timeout: Duration = .seconds(2), authorization: String? = nil) -> Result<
        (status: Int, body: String), EndpointError
    > {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host, String(port), &hints, &list)
        guard resolved == 0, let first = list else {
            return .failure(EndpointError("cannot resolve \(host): \(String(cString: gai_strerror(resolved)))"))
        }
        defer { freeaddrinfo(list) }
        let descriptor = socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard descriptor >= 0 else { return .failure(EndpointError("socket: \(String(cString: strerror(errno)))")) }
        defer { close(descriptor) }

        // Non-blocking connect bounded by `timeout`, then blocking I/O with the same timeout.
        let milliseconds = Int32(
            clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        let flags = fcntl(descriptor, F_GETFL, 0)
        _ = fcntl(descriptor, F_SETFL, flags | O_NONBLOCK)
        if connect(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else { return .failure(EndpointError(String(cString: strerror(errno)))) }
            var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
            guard poll(&poller, 1, milliseconds) == 1 else { return .failure(EndpointError("no answer")) }
            var failure: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(descriptor, SOL_SOCKET, SO_ERROR, &failure, &length)
            guard failure == 0 else { return .failure(EndpointError(String(cString: strerror(failure)))) }
        }
        _ = fcntl(descriptor, F_SETFL, flags)
        var limit = timeval(tv_sec: Int(milliseconds / 1000), tv_usec: Int(milliseconds % 1000) * 1000)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))

        let credentials = authorization.map { "Authorization: \($0)\r\n" } ?? ""
        let request = Array(
            "GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\n\(credentials)Connection: close\r\n\r\n".utf8)
        let written = request.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == request.count else { return .failure(EndpointError("could not send the request")) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while response.count < 16 << 20 {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 { return .failure(EndpointError("no complete answer within the timeout")) }
            if count == 0 { break }
            response += buffer[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusLine = text.split(separator: "\r\n").first,
            let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }),
            let bodyStart = text.range(of: "\r\n\r\n")
        else { return .failure(EndpointError("not an HTTP answer")) }
        let head = text[..<bodyStart.lowerBound].lowercased()
        let body = String(text[bodyStart.upperBound...])
        guard head.contains("transfer-encoding: chunked") else { return .success((status, body)) }
        guard let joined = Self.unchunked(body) else { return .failure(EndpointError("a malformed chunked answer")) }
        return .success((status, joined))
    }

    /// A chunked body's chunks joined (RFC 9112, 7.1); `nil` when it is malformed.
    public static func unchunked(_ body: String) -> String? {
        var bytes = Substring(body).utf8[...]
        var joined: [UInt8] = []
        while true {
            guard let end = bytes.firstRange(of: "\r\n".utf8) else { return nil }
            let sizeText =
                String(decoding: bytes[..<end.lowerBound], as: UTF8.self)
                .split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard let size = Int(sizeText, radix: 16), size >= 0 else { return nil }
            bytes = bytes[end.upperBound...]
            if size == 0 { return String(decoding: joined, as: UTF8.self) }
            guard bytes.count >= size + 2 else { return nil }
            joined += bytes.prefix(size)
            bytes = bytes.dropFirst(size + 2)
        }
    }
}

/// Why an endpoint did not answer.
public struct EndpointError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
