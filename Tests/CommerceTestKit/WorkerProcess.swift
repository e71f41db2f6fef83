import Foundation
import LocalProcess
import Testing

/// A worker process started by a test (probe-worker, a saga worker, payment-gateway), with its
/// log in a file and its HTTP endpoint on `httpPort`; a thin layer over ``ChildProcess`` that
/// keeps the names the tests use.
public final class WorkerProcess {
    public let process: ChildProcess
    public let httpPort: Int

    /// Starts the built `executable` (``CommerceBinary``) with the tests' environment plus
    /// `environment`, in a working directory without `config/` so that only the environment
    /// configures it.
    public init(
        environment: [String: String], httpPort: Int, name: String, executable: String = "probe-worker"
    ) throws {
        self.httpPort = httpPort
        process = try ChildProcess(
            executable: try CommerceBinary.required(executable),
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
            workingDirectory: FileManager.default.temporaryDirectory,
            logURL: FileManager.default.temporaryDirectory.appendingPathComponent("\(name).log"))
    }

    public var logURL: URL { process.logURL }
    public var log: String { process.log }

    public func terminate() { process.terminate() }
    public func kill9() { process.kill() }

    /// Waits for the process to exit and returns its status (or nil after `timeout`).
    public func waitForExit(timeout: Duration = .seconds(60)) -> Int32? { process.waitForExit(timeout: timeout) }

    /// GET `path` on the worker's HTTP endpoint: (status code, body), or nil if it does not answer.
    public func http(_ path: String) -> (Int, String)? { LoopbackHTTP.get(port: httpPort, path: path) }

    /// A TCP port nothing listens on right now (0, which fails a worker's start, if none is found).
    public static func freePort() -> Int { (try? LocalPorts.free()) ?? 0 }
}

/// The executables built beside the tests: in `COMMERCE_BIN_PATH` (`swift build --show-bin-path`),
/// or in the package's `.build/debug`.
public enum CommerceBinary {
    /// The path of the executable `name`, whether it is there or not.
    public static func url(_ name: String) -> URL {
        if let directory = TestServers.environment["COMMERCE_BIN_PATH"] {
            return URL(fileURLWithPath: directory).appendingPathComponent(name)
        }
        return TestServers.repositoryRoot.appendingPathComponent(".build/debug/\(name)")
    }

    /// The path of the executable `name`, or a failure that says how to build it.
    public static func required(_ name: String) throws -> URL {
        let binary = url(name)
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            Issue.record("no \(name) at \(binary.path): build it with `swift build` (scripts/test.sh does)")
            throw CocoaError(.fileNoSuchFile)
        }
        return binary
    }
}
