import Foundation
import Glibc

/// A minimal HTTP/1.1 client for a local process's own endpoint (`/health`, `/metrics`): one
/// blocking `GET` to 127.0.0.1, no TLS, no redirects, no chunked decoding.
public enum LoopbackHTTP {
    /// `GET path` on `127.0.0.1:port`: the status code and body, or `nil` when nothing answers.
    ///
    /// The response is read to the end of the stream; the request says `Connection: close`, and
    /// the server must close the connection after the answer (the workers' endpoint always does).
    public static func get(port: Int, path: String) -> (status: Int, body: String)? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var address = sockaddr_in.loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        // `Connection: close`: a keep-alive server (the payment-gateway) then closes after the
        // answer, which is where this client stops reading.
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
        let written = request.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == request.count else { return nil }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count <= 0 { break }
            response += buffer[0..<count]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let statusLine = text.split(separator: "\r\n").first,
            let status = statusLine.split(separator: " ").dropFirst().first.flatMap({ Int($0) }),
            let bodyStart = text.range(of: "\r\n\r\n")
        else { return nil }
        return (status, String(text[bodyStart.upperBound...]))
    }
}
