import Foundation
import Glibc

/// A worker executable started by `commerce`, configured only by its environment, with its
/// output in a log file and its `/health` and `/metrics` endpoint on a loopback port.
///
/// The process is killed (SIGKILL) when the value is released while still running, so a
/// command that fails half-way never leaves a worker behind.
final class WorkerProcess {
    let process = Process()
    let logURL: URL
    let httpPort: Int

    /// Environment variables passed through from ours: what a process needs to start (the
    /// toolchain's libraries, a home, a locale). Nothing else is inherited, so a `QUEUE_*` or
    /// `CONSUMER_*` variable set in the operator's shell cannot skew what the worker is told.
    static let inheritedVariables = ["PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "LD_LIBRARY_PATH"]

    /// Starts `executable` with `environment` (plus ``inheritedVariables``) in `workingDirectory`.
    init(executable: URL, environment: [String: String], workingDirectory: URL, httpPort: Int, logURL: URL) throws {
        self.httpPort = httpPort
        self.logURL = logURL
        guard FileManager.default.createFile(atPath: logURL.path, contents: nil) else {
            throw CommandFailure("cannot create the worker log \(logURL.path)")
        }
        let log = try FileHandle(forWritingTo: logURL)
        let ours = ProcessInfo.processInfo.environment.filter { Self.inheritedVariables.contains($0.key) }
        process.executableURL = executable
        process.currentDirectoryURL = workingDirectory
        process.environment = ours.merging(environment) { $1 }
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// The last `lines` lines of the worker's output, for error messages.
    func logTail(lines: Int = 15) -> String {
        let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Asks for a graceful stop.
    func terminate() { kill(process.processIdentifier, SIGTERM) }

    /// Waits for the process to exit; its status, or `nil` if it is still running after `timeout`.
    func waitForExit(timeout: Duration) -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline { return nil }
            Thread.sleep(forTimeInterval: 0.02)
        }
        return process.terminationStatus
    }

    /// `GET path` on the worker's endpoint: status code and body, or `nil` when nothing answers.
    ///
    /// The endpoint closes the connection after each response (`Connection: close`), so the
    /// response is read to the end of the stream.
    func get(_ path: String) -> (status: Int, body: String)? {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var address = Self.loopback(port: httpPort)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".utf8)
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

    /// A loopback TCP port that nothing listens on right now (the kernel's pick for port 0).
    static func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw CommandFailure("cannot open a socket to find a free port") }
        defer { close(descriptor) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard bound == 0, named == 0 else { throw CommandFailure("cannot find a free loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, "127.0.0.1", &address.sin_addr)
        return address
    }
}
